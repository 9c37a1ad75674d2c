// npm run bench [-- SUITE ...]: prints `figure <suite>.<name> <value> <unit>` lines and rewrites the
// suite's section of BENCHMARKS.md with the figures and the command that produced them.

import { flashlogFigures } from "./bench/flashlog.ts";
import { sessionFigures } from "./bench/session.ts";
import { memoryFigures } from "./bench/memory.ts";
import { cloudFigures } from "./bench/cloud.ts";
import { pipelineFigures } from "./bench/pipeline.ts";
import { soakBenchFigures, soakSection } from "./bench/soak.ts";
import { printFigures, writeSection, type Figure } from "./bench/report.ts";

/** A suite may pick its section and say how it was configured (environment variables) in the command line. */
type Section = { key: string; command: string };
const suites: Record<string, { title: string; run: () => Promise<Figure[]>; section?: () => Section }> = {
  flashlog: { title: "Flash log", run: flashlogFigures },
  session: { title: "MQTT session", run: sessionFigures },
  memory: { title: "Live XS slots of what the firmware keeps", run: memoryFigures },
  cloud: { title: "Cloud: ingest, latency, restarts, cost per device", run: cloudFigures },
  pipeline: { title: "Edge pipeline: billed units, fill, latency, alarm latency during a replay, XS compute", run: pipelineFigures },
  soak: { title: "Soak: a fleet on accelerated time, every record from flash to PostgreSQL", run: soakBenchFigures, section: soakSection },
};

const requested = process.argv.slice(2);
for (const name of requested) if (!suites[name]) {
  process.stderr.write(`npm run bench: unknown suite "${name}"; suites: ${Object.keys(suites).join(", ")}\n`);
  process.exit(2);
}

for (const name of requested.length > 0 ? requested : Object.keys(suites)) {
  const suite = suites[name];
  const started = Date.now();
  const figures = await suite.run();
  printFigures(figures);
  const section = suite.section?.() ?? { key: name, command: `npm run bench -- ${name}` };
  writeSection(section.key, suite.title, section.command, figures, (Date.now() - started) / 1000);
}
