// npm run bench [-- SUITE ...]: prints `figure <suite>.<name> <value> <unit>` lines and rewrites the
// suite's section of BENCHMARKS.md with the figures and the command that produced them.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { flashlogFigures } from "./bench/flashlog.ts";
import { sessionFigures } from "./bench/session.ts";

export interface Figure {
  name: string;
  value: number;
  unit: string;
  note: string;
}

const suites: Record<string, { title: string; run: () => Promise<Figure[]> }> = {
  flashlog: { title: "Flash log (issue 3)", run: flashlogFigures },
  session: { title: "MQTT session (issue 4)", run: sessionFigures },
};

const file = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));
const requested = process.argv.slice(2);
for (const name of requested) if (!suites[name]) {
  process.stderr.write(`npm run bench: unknown suite "${name}"; suites: ${Object.keys(suites).join(", ")}\n`);
  process.exit(2);
}

for (const name of requested.length > 0 ? requested : Object.keys(suites)) {
  const suite = suites[name];
  const started = Date.now();
  const figures = await suite.run();
  for (const f of figures) process.stdout.write(`figure ${f.name} ${f.value} ${f.unit}\n`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const section = [
    `<!-- bench:${name} -->`,
    `## ${suite.title}`,
    "",
    `Command: \`npm run bench -- ${name}\` (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? "cpu"}, ${seconds} s)`,
    "",
    "| figure | value | unit | how |",
    "|---|---|---|---|",
    ...figures.map((f) => `| ${f.name} | ${f.value} | ${f.unit} | ${f.note} |`),
    `<!-- /bench:${name} -->`,
  ].join("\n");
  let doc = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n\nFigures from `npm run bench`; each section is rewritten by the run that made it. The reference workload is ../shared/workload.md.\n";
  const pattern = new RegExp(`<!-- bench:${name} -->[\\s\\S]*?<!-- /bench:${name} -->`);
  doc = pattern.test(doc) ? doc.replace(pattern, section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, doc);
}
