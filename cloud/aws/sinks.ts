// Where the rules' output lands in AWS: two DynamoDB tables with TTL, the alert topic, the archive
// (Firehose to S3, GZIP JSON lines partitioned by the rule's event_date), and the dead-letter queue
// with an alarm on it.

import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { AttributeType, BillingMode, Table } from "aws-cdk-lib/aws-dynamodb";
import { Effect, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { CfnDeliveryStream } from "aws-cdk-lib/aws-kinesisfirehose";
import { BlockPublicAccess, Bucket, BucketEncryption, StorageClass } from "aws-cdk-lib/aws-s3";
import { Topic } from "aws-cdk-lib/aws-sns";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
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
  }
}
