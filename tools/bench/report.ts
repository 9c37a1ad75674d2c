// BENCHMARKS.md: one section per suite, rewritten by the run that made its figures, with the command.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";

export interface Figure {
  name: string;
  value: number;
  unit: string;
  note: string;
}

const file = fileURLToPath(new URL("../../BENCHMARKS.md", import.meta.url));

export function printFigures(figures: Figure[]): void {
  for (const f of figures) process.stdout.write(`figure ${f.name} ${f.value} ${f.unit}\n`);
}

/** Replaces (or appends) the section `key` of BENCHMARKS.md. `context` adds to the machine line (an SDK version, say). */
export function writeSection(key: string, title: string, command: string, figures: Figure[], seconds: number, context = ""): void {
  const section = [
    `<!-- bench:${key} -->`,
    `## ${title}`,
    "",
    `Command: \`${command}\` (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? "cpu"}${context ? `, ${context}` : ""}, ${seconds.toFixed(1)} s)`,
    "",
    "| figure | value | unit | how |",
    "|---|---|---|---|",
    ...figures.map((f) => `| ${f.name} | ${f.value} | ${f.unit} | ${f.note} |`),
    `<!-- /bench:${key} -->`,
  ].join("\n");
  let doc = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n\nFigures from `npm run bench` and `npm run sim -- --limits`; each section is rewritten by the run that made it.\n";
  const pattern = new RegExp(`<!-- bench:${key} -->[\\s\\S]*?<!-- /bench:${key} -->`);
  doc = pattern.test(doc) ? doc.replace(pattern, section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, doc);
}
