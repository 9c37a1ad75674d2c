// npm run ota:job: a signed firmware-update job for a built image. It computes the image's size and
// SHA-256, signs the SHA-256 (ECDSA P-256, certs/out/ota/signing-key.pem by default), writes the job
// document, and then either
//   --local   serves the image as a stream and creates the job on the local mirror's broker (the
//             local jobs service, cloud/local/jobs-service.ts, runs in this process until the job
//             ends: exit 0 when it SUCCEEDED), or
//   (default) prints the AWS CLI commands that upload the image, create the stream and create the
//             job from the stack's template (no AWS SDK here, and no account to run them against).
//
//   npm run ota:job -- --image FILE --version X.Y.Z (--thing NAME | --thing-group NAME)
//     [--key PEM] [--job-id ID] [--stream-id ID] [--out FILE] [--block-size 4096] [--allow-downgrade]
//     --local [--broker mqtts://localhost:8883] [--certs DIR] [--timeout SECONDS]
//     | --bucket NAME --role-arn ARN --template-arn ARN [--presigned]

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { command } from "../../host/cli.ts";
import { JOBS_SERVICE_IDENTITY, LocalJobs, jobsServiceTls } from "../local/jobs-service.ts";
import { awsCommands, imageKey, presignedPlaceholder } from "./aws-commands.ts";
import { signImage, signingKey } from "./sign-image.ts";
import { DEFAULT_BLOCK_SIZE, updateDocument, type ImageLocation } from "./update-document.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const usage = `usage: npm run ota:job -- --image FILE --version X.Y.Z (--thing NAME | --thing-group NAME) [--key PEM] [--job-id ID] [--stream-id ID] [--out FILE] [--block-size 4096] [--allow-downgrade]
  --local [--broker mqtts://localhost:8883] [--certs DIR] [--timeout SECONDS]      the local mirror: serve the stream and create the job
  --bucket NAME --role-arn ARN --template-arn ARN [--presigned]                   AWS: print the commands (the stack's Firmware* outputs)`;
const { values, fail } = command("ota:job", usage, {
  image: { type: "string" },
  version: { type: "string" },
  key: { type: "string" },
  thing: { type: "string" },
  "thing-group": { type: "string" },
  "job-id": { type: "string" },
  "stream-id": { type: "string" },
  out: { type: "string" },
  "block-size": { type: "string" },
  "allow-downgrade": { type: "boolean" },
  local: { type: "boolean" },
  broker: { type: "string" },
  certs: { type: "string" },
  timeout: { type: "string" },
  bucket: { type: "string" },
  "role-arn": { type: "string" },
  "template-arn": { type: "string" },
  presigned: { type: "boolean" },
});
const text = (name: string): string | undefined => (typeof values[name] === "string" ? (values[name] as string) : undefined);
const required = (name: string): string => text(name) ?? fail(`--${name} is required\n${usage}`);

const imagePath = resolve(required("image"));
const version = required("version");
if (!/^\d{1,5}\.\d{1,5}\.\d{1,5}(-[0-9A-Za-z.-]{1,20})?$/.test(version)) fail(`--version must be MAJOR.MINOR.PATCH, got ${version}`);
const thing = text("thing");
const thingGroup = text("thing-group");
if ((thing === undefined) === (thingGroup === undefined)) fail(`one of --thing or --thing-group is required\n${usage}`);
const slug = version.replace(/[^A-Za-z0-9]/g, "-");
const jobId = text("job-id") ?? `fw-${slug}-${Date.now().toString(36)}`;
const streamId = text("stream-id") ?? `fw-${slug}`;
if (!/^[a-zA-Z0-9_-]{1,64}$/.test(jobId)) fail(`--job-id must be 1..64 of a-z A-Z 0-9 _ -, got ${jobId}`);
if (!/^[a-zA-Z0-9_-]{1,128}$/.test(streamId)) fail(`--stream-id must be 1..128 of a-z A-Z 0-9 _ -, got ${streamId}`);
const blockSize = Number(text("block-size") ?? DEFAULT_BLOCK_SIZE);
if (!Number.isInteger(blockSize) || blockSize < 4096 || blockSize > 32768 || (blockSize & (blockSize - 1)) !== 0) fail("--block-size must be a power of 2 from 4096 to 32768");

let image: Buffer;
let signed: ReturnType<typeof signImage>;
const keyPath = resolve(text("key") ?? join(root, "certs/out/ota/signing-key.pem"));
try {
  image = readFileSync(imagePath);
  signed = signImage(image, signingKey(readFileSync(keyPath)));
} catch (error) {
  fail(`${(error as Error).message} (image ${imagePath}, key ${keyPath}; npm run certs makes the dev signing key)`);
}

const local = values.local === true;
const bucket = text("bucket");
let location: ImageLocation;
if (!local && values.presigned === true) location = { url: presignedPlaceholder(bucket ?? fail("--presigned needs --bucket"), imageKey(version, imagePath)) };
else location = { stream: { id: streamId, fileId: 0 } };
const document = updateDocument(version, location, { ...signed!, blockSize }, values["allow-downgrade"] === true);
const out = resolve(text("out") ?? join(root, ".state/ota", `${jobId}.json`));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(document, null, 2) + "\n");
process.stdout.write(`ota: ${imagePath}: ${signed!.size} bytes, sha256 ${signed!.sha256}\nota: signed with ${keyPath}\nota: job document ${out}\n`);

if (!local) {
  if (bucket === undefined || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) fail(`--bucket needs the stack's FirmwareBucketName (or --local)\n${usage}`);
  const release = {
    imagePath,
    documentPath: out,
    version,
    jobId,
    streamId,
    bucket: bucket!,
    imageRoleArn: required("role-arn"),
    templateArn: required("template-arn"),
    target: thing !== undefined ? { thing } : { thingGroup: thingGroup! },
    presigned: values.presigned === true,
  };
  process.stdout.write(`ota: for AWS, run (with the iiot-firmware-operator policy):\n${awsCommands(release).join("\n")}\n`);
  process.exit(0);
}

// --local: this process is the jobs service until the job ends.
if (thing === undefined) fail("--local takes --thing (the local jobs service has no thing groups)");
const certsDir = resolve(text("certs") ?? join(root, "certs/out"));
let tls: ReturnType<typeof jobsServiceTls>;
try {
  tls = jobsServiceTls(certsDir);
} catch (error) {
  fail((error as Error).message);
}
const brokerUrl = text("broker") ?? "mqtts://localhost:8883";
const timeoutS = Number(text("timeout") ?? 1800);
if (!(timeoutS > 0)) fail("--timeout needs a positive number of seconds");
let service: LocalJobs;
try {
  service = await LocalJobs.start({ url: brokerUrl, ...tls!, servername: "localhost" });
} catch (error) {
  fail(`cannot reach ${brokerUrl} as ${JOBS_SERVICE_IDENTITY}: ${(error as Error).message} (is npm run cloud:local running?)`);
}
service!.addStream(streamId, new Map([[0, new Uint8Array(image!)]]));
service!.createJob(thing!, jobId, document);
process.stdout.write(`ota: job ${jobId} queued for ${thing} on ${brokerUrl}, image served as stream ${streamId}; waiting for the device\n`);
let shown = 0;
const progress = setInterval(() => {
  for (const h of service.history.slice(shown)) process.stdout.write(`ota: ${h.jobId} ${h.status} ${JSON.stringify(h.statusDetails)}\n`);
  shown = service.history.length;
}, 250);
let status = "unknown";
try {
  status = (await service!.waitFor(thing!, jobId, ["SUCCEEDED", "FAILED", "REJECTED", "CANCELED", "TIMED_OUT", "REMOVED"], timeoutS * 1000)).status;
} catch (error) {
  process.stdout.write(`ota: ${(error as Error).message}\n`);
} finally {
  clearInterval(progress);
  for (const h of service!.history.slice(shown)) process.stdout.write(`ota: ${h.jobId} ${h.status} ${JSON.stringify(h.statusDetails)}\n`);
  await service!.stop();
}
process.stdout.write(`ota: ${jobId} ended ${status}\n`);
process.exit(status === "SUCCEEDED" ? 0 : 1);
