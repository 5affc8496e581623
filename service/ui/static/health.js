import { h } from "./ui.js";
export function healthView(main) {
  main.append(h("h1", {}, "Health"));
  return () => {};
}
