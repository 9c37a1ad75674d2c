// The CDK app's synthesized template (offline, no AWS account): the rules are the single
// definitions of cloud/rules.ts, each with the dead-letter queue as error action; devices get no
// wildcard permissions and act only as their own thing; the sinks are what the rules expect; firmware
// updates get a private image bucket, a read-only role for AWS IoT, a job template and an operator policy.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { beforeAll, expect, test } from "vitest";
import { PipelineStack } from "../cloud/aws/pipeline-stack.ts";
import { ARCHIVE_JQ, ARCHIVE_PREFIX } from "../cloud/aws/sinks.ts";
import { ruleDefinitions, SQL_VERSION } from "../cloud/rules.ts";
import { DEVICE_GRANTS } from "../cloud/topics.ts";
import { parseUpdateDocument } from "../src/ota/job-document.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
let template: Template;
let resources: Record<string, { Type: string; Properties: Record<string, Json> }>;

beforeAll(() => {
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), "iiot-cdk-")) });
  template = Template.fromStack(new PipelineStack(app, "Test"));
  resources = template.toJSON().Resources;
});

/** An ARN as the text it becomes at deploy time, with the pseudo parameters as placeholders. */
function arnText(value: Json): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && !Array.isArray(value)) {
    if ("Fn::Join" in value) {
      const [sep, parts] = value["Fn::Join"] as [string, Json[]];
      return parts.map(arnText).join(sep);
    }
    if ("Ref" in value) return `{${value.Ref}}`;
  }
  throw new Error(`not an ARN: ${JSON.stringify(value)}`);
}

function ofType(type: string) {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function policyStatements(name: string): Array<{ Action: string[]; Resource: string[]; Condition?: Json }> {
  const found = ofType("AWS::IoT::Policy").find(([, r]) => r.Properties.PolicyName === name);
  expect(found, `IoT policy ${name}`).toBeDefined();
  const doc = found![1].Properties.PolicyDocument as { Statement: Array<{ Action: string[]; Resource: Json[]; Condition?: Json }> };
  return doc.Statement.map((s) => ({ ...s, Resource: s.Resource.map(arnText) }));
}

const ARN = "arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}:";

test("each rule is its single definition: same SQL and version, one action, the dead-letter queue as error action", () => {
  const definitions = ruleDefinitions();
  const rules = ofType("AWS::IoT::TopicRule");
  expect(rules.length).toBe(definitions.length);
  const dlq = ofType("AWS::SQS::Queue");
  expect(dlq.length).toBe(1);
  for (const definition of definitions) {
    const found = rules.find(([, r]) => r.Properties.RuleName === `iiot_${definition.name}`);
    expect(found, definition.name).toBeDefined();
    const payload = found![1].Properties.TopicRulePayload as Record<string, Json>;
    expect(payload.Sql).toBe(definition.sql);
    expect(payload.AwsIotSqlVersion).toBe(SQL_VERSION);
    expect((payload.Actions as Json[]).length).toBe(1);
    expect(payload.ErrorAction, `${definition.name} has an error action`).toStrictEqual({
      Sqs: { QueueUrl: { Ref: dlq[0][0] }, RoleArn: expect.anything(), UseBase64: false },
    });
    const action = Object.keys((payload.Actions as Record<string, Json>[])[0])[0];
    expect(action).toBe({ "telemetry-table": "DynamoDBv2", "status-table": "DynamoDBv2", "alert-topic": "Sns", "archive-stream": "Firehose", "certificate-deactivation": "Lambda" }[definition.sink]);
  }
});

test("the device policy uses the thing-name variables and grants no wildcard over devices", () => {
  const statements = policyStatements("iiot-device");
  const actions = statements.flatMap((s) => s.Action);
  expect(actions).not.toContain("iot:*");
  expect(new Set(actions)).toStrictEqual(new Set(["iot:Connect", "iot:Publish", "iot:RetainPublish", "iot:Subscribe", "iot:Receive"]));
  const connect = statements.find((s) => s.Action.includes("iot:Connect"))!;
  expect(connect.Resource).toStrictEqual([`${ARN}client/\${iot:Connection.Thing.ThingName}`]);
  expect(connect.Condition).toStrictEqual({ Bool: { "iot:Connection.Thing.IsAttached": "true" } });
  for (const s of statements) {
    for (const resource of s.Resource) {
      expect(resource.startsWith(ARN), resource).toBe(true);
      const rest = resource.slice(ARN.length);
      // Every topic is under the device's own root or its own thing's reserved topics.
      expect(rest, `${s.Action}: ${rest}`).toMatch(/^(client|topic|topicfilter)\/(\$\{iot:Connection\.Thing\.Attributes\[topicRoot\]\}[a-z]|\$aws\/things\/\$\{iot:Connection\.Thing\.ThingName\}\/|\$\{iot:Connection\.Thing\.ThingName\}$)/);
      expect(rest).not.toMatch(/^(topic|topicfilter|client)\/\*/);
    }
  }
  const published = statements.filter((s) => s.Action.includes("iot:Publish")).flatMap((s) => s.Resource);
  for (const kind of ["telemetry", "status", "alarm"]) expect(published).toContain(`${ARN}topic/\${iot:Connection.Thing.Attributes[topicRoot]}${kind}`);
  const retained = statements.find((s) => s.Action.includes("iot:RetainPublish"))!.Resource;
  expect(retained).toStrictEqual([`${ARN}topic/\${iot:Connection.Thing.Attributes[topicRoot]}status`]);
  const subscribed = statements.find((s) => s.Action.includes("iot:Subscribe"))!.Resource;
  expect(subscribed.length).toBe(DEVICE_GRANTS.filter((g) => g.action === "subscribe").length);
  // In a policy + and # are literal: * stands for them, so a filter naming one stream id or keeping `+` both match.
  expect(subscribed).toContain(`${ARN}topicfilter/\${iot:Connection.Thing.Attributes[topicRoot]}command/*`);
  const thing = "$aws/things/${iot:Connection.Thing.ThingName}";
  expect(subscribed).toContain(`${ARN}topicfilter/${thing}/jobs/*`);
  expect(subscribed).toContain(`${ARN}topicfilter/${thing}/streams/*/data/json`);
  expect(subscribed).toContain(`${ARN}topicfilter/${thing}/streams/*/rejected/json`);
  const received = statements.find((s) => s.Action.includes("iot:Receive"))!.Resource;
  expect(received).toStrictEqual(subscribed.map((r) => r.replace("topicfilter/", "topic/")));
  // What src/ota/jobs-client.ts and download.ts publish.
  for (const topic of ["jobs/start-next", "jobs/*/update", "streams/*/get/json"]) expect(published).toContain(`${ARN}topic/${thing}/${topic}`);
});

test("the claim policy reaches only the certificate and provisioning topics, from claim client ids", () => {
  const statements = policyStatements("iiot-claim");
  for (const s of statements) {
    expect(s.Action).not.toContain("iot:*");
    for (const resource of s.Resource) {
      const rest = resource.slice(ARN.length);
      expect(rest).toMatch(/^(client\/claim-\*|(topic|topicfilter)\/\$aws\/(certificates\/create|provisioning-templates\/iiot-fleet\/provision)\/json(\/accepted|\/rejected)?)$/);
    }
  }
});

test("the provisioning template gives each thing a topic root ending with its own name", () => {
  const [, tpl] = ofType("AWS::IoT::ProvisioningTemplate")[0];
  const body = JSON.parse(tpl.Properties.TemplateBody as string);
  expect(body.Resources.thing.Properties.AttributePayload.topicRoot).toStrictEqual({
    "Fn::Join": ["/", ["factory", { Ref: "Site" }, { Ref: "Building" }, { Ref: "Line" }, { Ref: "ThingName" }, ""]],
  });
  expect(body.Resources.thing.Properties.ThingTypeName).toBe("iiot-sensor-node");
  expect(body.Resources.policy.Properties.PolicyName).toBe("iiot-device");
  template.hasResourceProperties("AWS::IoT::ThingType", { ThingTypeName: "iiot-sensor-node", ThingTypeProperties: { SearchableAttributes: ["topicRoot"] } });
});

test("the sinks: tables keyed as the rules write them, with TTL; GZIP archive partitioned by the rules' event_date; an alarm on the dead letters", () => {
  template.hasResourceProperties("AWS::DynamoDB::Table", {
    KeySchema: [{ AttributeName: "device", KeyType: "HASH" }, { AttributeName: "first_seq", KeyType: "RANGE" }],
    TimeToLiveSpecification: { AttributeName: "expires_at", Enabled: true },
  });
  template.hasResourceProperties("AWS::DynamoDB::Table", {
    KeySchema: [{ AttributeName: "device", KeyType: "HASH" }, { AttributeName: "received_at", KeyType: "RANGE" }],
    TimeToLiveSpecification: { AttributeName: "expires_at", Enabled: true },
  });
  expect(ARCHIVE_JQ).toBe("{kind: .kind, event_date: .event_date}");
  expect(ARCHIVE_PREFIX).toBe("archive/kind=!{partitionKeyFromQuery:kind}/event_date=!{partitionKeyFromQuery:event_date}/");
  template.hasResourceProperties("AWS::KinesisFirehose::DeliveryStream", {
    ExtendedS3DestinationConfiguration: Match.objectLike({
      CompressionFormat: "GZIP",
      Prefix: ARCHIVE_PREFIX,
      DynamicPartitioningConfiguration: Match.objectLike({ Enabled: true }),
      ProcessingConfiguration: {
        Enabled: true,
        Processors: Match.arrayWith([
          { Type: "MetadataExtraction", Parameters: Match.arrayWith([{ ParameterName: "MetadataExtractionQuery", ParameterValue: ARCHIVE_JQ }]) },
          { Type: "AppendDelimiterToRecord", Parameters: [{ ParameterName: "Delimiter", ParameterValue: "\\n" }] },
        ]),
      },
    }),
  });
  template.hasResourceProperties("AWS::CloudWatch::Alarm", {
    MetricName: "ApproximateNumberOfMessagesVisible",
    Namespace: "AWS/SQS",
    Threshold: 1,
    AlarmActions: Match.anyValue(),
  });
});

test("rule roles may write their own sink and the dead-letter queue, with no wildcard actions", () => {
  for (const [, policy] of ofType("AWS::IAM::Policy")) {
    const doc = policy.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[] }> };
    for (const s of doc.Statement) for (const action of [s.Action].flat()) expect(action).not.toMatch(/:\*$|^\*$/);
  }
});

test("firmware updates: a private, versioned, encrypted image bucket (TLS only), a role IoT assumes to read images, a job template, an operator policy", () => {
  const [bucketId] = ofType("AWS::S3::Bucket").find(([id]) => id.startsWith("FirmwareImageBucket"))!;
  template.hasResourceProperties("AWS::S3::Bucket", {
    VersioningConfiguration: { Status: "Enabled" },
    BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
    PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
  });
  expect(resources[bucketId].Properties.VersioningConfiguration).toStrictEqual({ Status: "Enabled" });
  template.hasResourceProperties("AWS::S3::BucketPolicy", {
    Bucket: { Ref: bucketId },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny", Action: "s3:*", Condition: { Bool: { "aws:SecureTransport": "false" } } })]) },
  });

  const [roleId, role] = ofType("AWS::IAM::Role").find(([id]) => id.startsWith("FirmwareImageAccessRole"))!;
  expect(role.Properties.AssumeRolePolicyDocument).toMatchObject({
    Statement: [{ Action: "sts:AssumeRole", Principal: { Service: "iot.amazonaws.com" }, Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } } }],
  });
  const rolePolicy = ofType("AWS::IAM::Policy").find(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))![1];
  // Read only, and only images.
  expect(rolePolicy.Properties.PolicyDocument).toStrictEqual({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: ["s3:GetObject", "s3:GetObjectVersion"], Resource: { "Fn::Join": ["", [{ "Fn::GetAtt": [bucketId, "Arn"] }, "/images/*"]] } }],
  });

  const [, jobTemplate] = ofType("AWS::IoT::JobTemplate")[0];
  const p = jobTemplate.Properties as Record<string, Json>;
  expect(p.JobTemplateId).toBe("iiot-firmware-update");
  expect(p.PresignedUrlConfig).toStrictEqual({ RoleArn: { "Fn::GetAtt": [roleId, "Arn"] }, ExpiresInSec: 3600 });
  expect(p.TimeoutConfig).toStrictEqual({ InProgressTimeoutInMinutes: 60 });
  expect(p.AbortConfig).toStrictEqual({ CriteriaList: [{ Action: "CANCEL", FailureType: "ALL", MinNumberOfExecutedThings: 10, ThresholdPercentage: 10 }] });
  expect(p.JobExecutionsRetryConfig).toStrictEqual({ RetryCriteriaList: [{ FailureType: "TIMED_OUT", NumberOfRetries: 1 }] });
  expect(p.JobExecutionsRolloutConfig).toMatchObject({ MaximumPerMinute: 100, ExponentialRolloutRate: { BaseRatePerMinute: 5 } });
  // The document's shape with placeholders; the device refuses it as it stands (no version, no size).
  const document = JSON.parse(p.Document as string) as Record<string, unknown>;
  expect(document).toMatchObject({ operation: "iiot.firmware-update", image: { stream: { fileId: 0 }, blockSize: 4096 } });
  expect(parseUpdateDocument(document, { maxImageBytes: 1 << 22 }).ok).toBe(false);

  const [, operator] = ofType("AWS::IAM::ManagedPolicy").find(([id]) => id.startsWith("FirmwareOperatorPolicy"))!;
  const statements = (operator.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: Json; Condition?: Json }> }).Statement;
  const actions = statements.flatMap((s) => [s.Action].flat());
  for (const action of ["s3:PutObject", "iot:CreateStream", "iot:CreateJob", "iam:PassRole"]) expect(actions).toContain(action);
  for (const action of actions) expect(action).not.toMatch(/:\*$|^\*$/);
  const passRole = statements.find((s) => [s.Action].flat().includes("iam:PassRole"))!;
  expect(passRole.Resource).toStrictEqual({ "Fn::GetAtt": [roleId, "Arn"] });
  expect(passRole.Condition).toStrictEqual({ StringEquals: { "iam:PassedToService": "iot.amazonaws.com" } });
  const createJob = statements.find((s) => [s.Action].flat().includes("iot:CreateJob"))!;
  expect((createJob.Resource as Json[]).map(arnText)).toContain(`${ARN}jobtemplate/iiot-firmware-update`);
  for (const output of ["FirmwareBucketName", "FirmwareImageRoleArn", "FirmwareJobTemplateArn", "FirmwareOperatorPolicyArn"]) template.hasOutput(output, Match.anyValue());
});

const root = fileURLToPath(new URL("../", import.meta.url));
test("npm run cloud:synth synthesizes with the pinned CLI, offline", { timeout: 120_000 }, () => {
  const out = join(root, "cloud/cdk.out");
  rmSync(out, { recursive: true, force: true });
  // In a network namespace of its own (no interface but loopback) where the machine allows it: proof that it needs no network.
  const isolated = spawnSync("unshare", ["-n", "true"]).status === 0;
  const command = ["npm", "run", "--silent", "cloud:synth"];
  const [file, ...args] = isolated ? ["unshare", "-n", ...command] : command;
  execFileSync(file, args, { cwd: root, stdio: "pipe", timeout: 110_000 });
  expect(existsSync(join(out, "IiotPipeline.template.json"))).toBe(true);
  const synthesized = JSON.parse(readFileSync(join(out, "IiotPipeline.template.json"), "utf8")) as { Resources: Record<string, { Type: string }> };
  expect(Object.values(synthesized.Resources).filter((r) => r.Type === "AWS::IoT::TopicRule").length).toBe(ruleDefinitions().length);
});
