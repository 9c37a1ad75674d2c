// Where the rules' output lands in AWS: two DynamoDB tables with TTL, the alert topic, the archive
// (Firehose to S3, GZIP JSON lines partitioned by the rule's event_date), and the dead-letter queue
// with an alarm on it.

import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { AttributeType, BillingMode, Table } from "aws-cdk-lib/aws-dynamodb";
import { Effect, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { CfnDeliveryStream } from "aws-cdk-lib/aws-kinesisfirehose";
import { BlockPublicAccess, Bucket, BucketEncryption, StorageClass } from "aws-cdk-lib/aws-s3";
import { Topic } from "aws-cdk-lib/aws-sns";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Code, Function as LambdaFunction, Runtime } from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";
import { ARCHIVE_PARTITION_KEYS } from "../rules.ts";

/** `{kind: .kind, event_date: .event_date}`: the partition fields the archive rules compute. */
export const ARCHIVE_JQ = `{${ARCHIVE_PARTITION_KEYS.map((k) => `${k}: .${k}`).join(", ")}}`;
/** `archive/kind=!{partitionKeyFromQuery:kind}/event_date=!{partitionKeyFromQuery:event_date}/` */
export const ARCHIVE_PREFIX = `archive/${ARCHIVE_PARTITION_KEYS.map((k) => `${k}=!{partitionKeyFromQuery:${k}}`).join("/")}/`;

export class PipelineSinks extends Construct {
  readonly telemetryTable: Table;
  readonly statusTable: Table;
  readonly alertTopic: Topic;
  readonly operationsTopic: Topic;
  readonly archiveBucket: Bucket;
  readonly archiveStream: CfnDeliveryStream;
  readonly deadLetters: Queue;
  readonly deadLetterAlarm: Alarm;
  /** Deactivates a certificate a device replaced, once the device confirmed the new one works. */
  readonly certificateDeactivator: LambdaFunction;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    // Data outlives a stack deletion: tables and bucket are retained.
    this.telemetryTable = new Table(this, "TelemetryTable", {
      partitionKey: { name: "device", type: AttributeType.STRING },
      sortKey: { name: "first_seq", type: AttributeType.NUMBER },
      timeToLiveAttribute: "expires_at",
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.statusTable = new Table(this, "StatusTable", {
      partitionKey: { name: "device", type: AttributeType.STRING },
      sortKey: { name: "received_at", type: AttributeType.NUMBER },
      timeToLiveAttribute: "expires_at",
      billingMode: BillingMode.PAY_PER_REQUEST,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.alertTopic = new Topic(this, "AlertTopic", { displayName: "iiot process alerts", enforceSSL: true });
    this.operationsTopic = new Topic(this, "OperationsTopic", { displayName: "iiot pipeline operations", enforceSSL: true });

    this.deadLetters = new Queue(this, "DeadLetters", {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    // Any dead letter is a message a rule could not deliver: someone should look.
    this.deadLetterAlarm = new Alarm(this, "DeadLetterAlarm", {
      alarmDescription: "A rule action failed: its message is in the dead-letter queue",
      metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: "Maximum" }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm.addAlarmAction(new SnsAction(this.operationsTopic));

    this.archiveBucket = new Bucket(this, "ArchiveBucket", {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ transitions: [{ storageClass: StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(90) }] }],
    });
    const firehoseRole = new Role(this, "ArchiveDeliveryRole", { assumedBy: new ServicePrincipal("firehose.amazonaws.com") });
    firehoseRole.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"],
        resources: [this.archiveBucket.bucketArn, this.archiveBucket.arnForObjects("*")],
      }),
    );
    this.archiveStream = new CfnDeliveryStream(this, "ArchiveStream", {
      deliveryStreamType: "DirectPut",
      extendedS3DestinationConfiguration: {
        bucketArn: this.archiveBucket.bucketArn,
        roleArn: firehoseRole.roleArn,
        prefix: ARCHIVE_PREFIX,
        errorOutputPrefix: "archive-errors/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/",
        compressionFormat: "GZIP",
        // Dynamic partitioning needs a buffer of at least 64 MB.
        bufferingHints: { sizeInMBs: 64, intervalInSeconds: 300 },
        dynamicPartitioningConfiguration: { enabled: true, retryOptions: { durationInSeconds: 300 } },
        processingConfiguration: {
          enabled: true,
          processors: [
            {
              type: "MetadataExtraction",
              parameters: [
                { parameterName: "MetadataExtractionQuery", parameterValue: ARCHIVE_JQ },
                { parameterName: "JsonParsingEngine", parameterValue: "JQ-1.6" },
              ],
            },
            // One JSON document per line.
            { type: "AppendDelimiterToRecord", parameters: [{ parameterName: "Delimiter", parameterValue: "\\n" }] },
          ],
        },
      },
    });
    this.archiveStream.node.addDependency(firehoseRole);

    this.certificateDeactivator = new LambdaFunction(this, "CertificateDeactivator", {
      description: "A device confirmed its rotated certificate: deactivate the one it replaced, if both are attached to it",
      runtime: Runtime.NODEJS_20_X,
      handler: "index.handler",
      timeout: Duration.seconds(30),
      code: Code.fromInline(DEACTIVATOR_SOURCE),
    });
    this.certificateDeactivator.addToRolePolicy(new PolicyStatement({ effect: Effect.ALLOW, actions: ["iot:ListThingPrincipals"], resources: ["*"] }));
    this.certificateDeactivator.addToRolePolicy(new PolicyStatement({ effect: Effect.ALLOW, actions: ["iot:UpdateCertificate"], resources: [`arn:aws:iot:${Stack.of(this).region}:${Stack.of(this).account}:cert/*`] }));
  }
}

/**
 * The rule's output is {device, certificate, replaced, topic, received_at}; device comes from the
 * topic (the policy lets a device publish only under its own root). A certificate is deactivated only
 * if it and its replacement are both attached to that thing: a device cannot switch off another's.
 */
const DEACTIVATOR_SOURCE = `
const { IoTClient, ListThingPrincipalsCommand, UpdateCertificateCommand } = require("@aws-sdk/client-iot");
const iot = new IoTClient({});
const ID = /^[0-9a-f]{64}$/;
exports.handler = async (event) => {
  const { device, certificate, replaced } = event;
  if (typeof device !== "string" || !ID.test(certificate) || !ID.test(replaced) || certificate === replaced)
    throw new Error("rotation: not a confirmation: " + JSON.stringify(event).slice(0, 300));
  const principals = [];
  let nextToken;
  do {
    const page = await iot.send(new ListThingPrincipalsCommand({ thingName: device, nextToken }));
    principals.push(...(page.principals || []));
    nextToken = page.nextToken;
  } while (nextToken);
  const attached = (id) => principals.some((arn) => arn.endsWith(":cert/" + id));
  if (!attached(certificate)) throw new Error("rotation: " + device + " confirmed a certificate that is not attached to it");
  if (!attached(replaced)) return { skipped: "the replaced certificate is not attached to " + device };
  await iot.send(new UpdateCertificateCommand({ certificateId: replaced, newStatus: "INACTIVE" }));
  return { deactivated: replaced };
};
`;
