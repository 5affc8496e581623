import { h } from "./ui.js";
export function jobView(main, id) {
  main.append(h("h1", {}, id));
  return () => {};
}
