import { h } from "./ui.js";
export function coverageView(main) {
  main.append(h("h1", {}, "Coverage"));
  return () => {};
}
