// Module resolution hook: Moddable specifiers -> host implementations (see register.mjs).
import { readFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const { paths } = JSON.parse(readFileSync(new URL("tsconfig.host.json", root), "utf8")).compilerOptions;
const map = new Map(Object.entries(paths).map(([specifier, [target]]) => [specifier, new URL(target, root).href]));

export async function resolve(specifier, context, nextResolve) {
  // Hand the mapped file to the next resolver (tsx), which marks .ts files for its loader.
  return nextResolve(map.get(specifier) ?? specifier, context);
}
