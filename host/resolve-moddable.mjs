// Module resolution hook: Moddable specifiers -> host implementations (see register.mjs). The map is
// tsconfig.host.json "paths"; vitest.config.ts builds its aliases from the same export.
import { readFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const { paths } = JSON.parse(readFileSync(new URL("tsconfig.host.json", root), "utf8")).compilerOptions;

/** Moddable specifier -> file URL of its host implementation. */
export const moddableModules = new Map(Object.entries(paths).map(([specifier, [target]]) => [specifier, new URL(target, root).href]));

export async function resolve(specifier, context, nextResolve) {
  // Only the project's own imports: "net" is also Node's, which packages (MQTT.js, Aedes) import.
  const own = !context.parentURL?.includes("/node_modules/");
  // Hand the mapped file to the next resolver (tsx), which marks .ts files for its loader.
  return nextResolve((own && moddableModules.get(specifier)) || specifier, context);
}
