// npm run sim -- --ota: a firmware update on the Moddable simulator. The simulator build runs against
// the embedded broker with the local Jobs and file-delivery service (cloud/local/jobs-service.ts);
// once the node is online, a simulated image of version 0.4.0 signed with the dev signing key
// (certs/out/ota/signing-key.pem) is offered as a job over a stream. The simulator cannot restart
// itself: when the node asks to, the demo powers it off and on (the flash files stay), as a board's
// restart would. It ends when the job does; exit 0 when it SUCCEEDED and the node came back online
// as 0.4.0.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { Aedes } from "aedes";
import { LocalJobs, jobsServiceTls } from "../../cloud/local/jobs-service.ts";
import { signImage, signingKey } from "../../cloud/ota/sign-image.ts";
import { DEFAULT_BLOCK_SIZE, updateDocument } from "../../cloud/ota/update-document.ts";
import { buildSimImage } from "../../sim/ota/dual-slot.ts";
import { powerOff, runSimulator, type Sdk } from "./sdk.ts";

const NEW_VERSION = "0.4.0";
/** Sixty 4 KB blocks: the download takes long enough to watch. */
const IMAGE_BYTES = 240_000;

export interface OtaDemoOptions {
  root: string;
  sdk: Sdk;
  /** The built simulator. */
  so: string;
  state: string;
  aedes: Aedes;
  brokerPort: number;
  thing: string;
  topicRoot: string;
  say(text: string): void;
  timeoutS: number;
}

export async function runOtaDemo(o: OtaDemoOptions): Promise<number> {
  const jobs = await LocalJobs.start({ url: `mqtts://localhost:${o.brokerPort}`, ...jobsServiceTls(join(o.root, "certs/out")), servername: "localhost" });
  const versions: string[] = [];
  let offered = false;
  const image = buildSimImage(NEW_VERSION, IMAGE_BYTES, 42);
  const imageFile = join(o.state, `sim-image-${NEW_VERSION}.bin`);
  writeFileSync(imageFile, image);
  const signed = signImage(image, signingKey(readFileSync(join(o.root, "certs/out/ota/signing-key.pem"))));
  const jobId = `sim-ota-${Date.now().toString(36)}`;
  o.aedes.on("publish", (packet, client) => {
    if (!client || packet.topic !== `${o.topicRoot}status`) return;
    const status = JSON.parse(packet.payload.toString()) as { state: string; firmware: string };
    if (status.state !== "online") return;
    versions.push(status.firmware);
    o.say(`ota: <- status online, firmware ${status.firmware}\n`);
    if (offered) return;
    offered = true;
    jobs.addStream("sim-fw", new Map([[0, image]]));
    const document = updateDocument(NEW_VERSION, { stream: { id: "sim-fw", fileId: 0 } }, { ...signed, blockSize: DEFAULT_BLOCK_SIZE });
    o.say(`ota: -> job ${jobId}: ${imageFile} (${image.length} bytes, sha256 ${signed.sha256.slice(0, 16)}...) as stream sim-fw\n`);
    jobs.createJob(o.thing, jobId, document);
  });
  let reported = 0;
  const progress = setInterval(() => {
    for (const h of jobs.history.slice(reported)) o.say(`ota: <- job ${h.jobId} ${h.status} ${JSON.stringify(h.statusDetails)}\n`);
    reported = jobs.history.length;
  }, 200);

  let child: ChildProcess;
  let powerCycles = 0;
  const powerOn = () => {
    child = runSimulator(o.sdk, o.so);
    const lines = (text: string) => {
      o.say(text);
      // The node's clean stop is done and it asks for the restart it cannot make: power it off and on.
      if (/power-cycle it to go on/.test(text)) {
        powerCycles++;
        void powerOff(child).then(() => {
          o.say(`ota: power-cycling the simulator (${powerCycles})\n`);
          powerOn();
        });
      }
    };
    child.stdout!.setEncoding("utf8").on("data", lines);
    child.stderr!.setEncoding("utf8").on("data", lines);
  };
  powerOn();
  let status = "TIMEOUT";
  try {
    const done = await jobs.waitFor(o.thing, jobId, ["SUCCEEDED", "FAILED", "REJECTED"], o.timeoutS * 1000);
    status = done.status;
    // The status of the boot that confirmed the image.
    const deadline = Date.now() + 15_000;
    while (versions.at(-1) !== NEW_VERSION && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  } catch (error) {
    o.say(`ota: ${(error as Error).message}\n`);
  } finally {
    clearInterval(progress);
    for (const h of jobs.history.slice(reported)) o.say(`ota: <- job ${h.jobId} ${h.status} ${JSON.stringify(h.statusDetails)}\n`);
    await powerOff(child!);
    await jobs.stop();
  }
  o.say(`ota: job ${status}; firmware online as ${versions.join(" then ")}; ${powerCycles} power cycle(s)\n`);
  return status === "SUCCEEDED" && versions.at(-1) === NEW_VERSION ? 0 : 1;
}
