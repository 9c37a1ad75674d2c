// What an over-the-air update needs in AWS (the device side is src/ota/): a bucket for
// signed images and job documents, the role AWS IoT assumes to read images (for MQTT-based file
// delivery streams, and for S3 presigned URLs in job documents), a job template with the rollout,
// abort, timeout and retry settings of a firmware update, and a managed policy for whoever releases
// updates (cloud/ota/create-update.ts prints the commands it allows).

import { RemovalPolicy, Stack } from "aws-cdk-lib";
import { Effect, ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { CfnJobTemplate } from "aws-cdk-lib/aws-iot";
import { BlockPublicAccess, Bucket, BucketEncryption } from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { placeholderDocument } from "../ota/update-document.ts";

/** Where the update script puts things in the bucket. */
export const IMAGE_PREFIX = "images/";
export const JOB_DOCUMENT_PREFIX = "jobs/";
/** AWS's upper bound for presigned URLs in job documents. */
export const PRESIGNED_URL_SECONDS = 3600;
/** Download (about 1.4 MiB in 4 KB blocks), verification, reboot and the 5-minute self-test, with room. */
export const UPDATE_TIMEOUT_MINUTES = 60;

export interface FirmwareUpdatesProps {
  namePrefix: string;
}

export class FirmwareUpdates extends Construct {
  readonly bucket: Bucket;
  /** Assumed by AWS IoT: reads images for streams (iot:CreateStream's roleArn) and presigned URLs. */
  readonly imageRole: Role;
  readonly jobTemplate: CfnJobTemplate;
  readonly operatorPolicy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: FirmwareUpdatesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // Versioned: a stream names an object version, so an image overwritten under the same key
    // cannot change under a running job.
    this.bucket = new Bucket(this, "ImageBucket", {
      versioned: true,
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Only this account's IoT may assume it (the confused-deputy condition).
    this.imageRole = new Role(this, "ImageAccessRole", {
      assumedBy: new ServicePrincipal("iot.amazonaws.com").withConditions({ StringEquals: { "aws:SourceAccount": stack.account } }),
      description: "AWS IoT reads firmware images for MQTT file delivery streams and presigned URLs",
    });
    this.imageRole.addToPolicy(
      new PolicyStatement({ effect: Effect.ALLOW, actions: ["s3:GetObject", "s3:GetObjectVersion"], resources: [this.bucket.arnForObjects(`${IMAGE_PREFIX}*`)] }),
    );

    const templateId = `${props.namePrefix}-firmware-update`;
    this.jobTemplate = new CfnJobTemplate(this, "JobTemplate", {
      jobTemplateId: templateId,
      description: "iiot-node firmware update: a signed image by MQTT file delivery (stream) or presigned URL; the job brings its own document",
      document: JSON.stringify(placeholderDocument()),
      // The L1 types the presigned URL, rollout, abort and timeout configurations as `any`: CloudFormation's property names.
      presignedUrlConfig: { RoleArn: this.imageRole.roleArn, ExpiresInSec: PRESIGNED_URL_SECONDS },
      jobExecutionsRolloutConfig: {
        // A few devices first; faster only while they succeed.
        ExponentialRolloutRate: { BaseRatePerMinute: 5, IncrementFactor: 2, RateIncreaseCriteria: { NumberOfSucceededThings: 10 } },
        MaximumPerMinute: 100,
      },
      // Stop the rollout when updates go wrong: 10 % of executions failed, rejected or timed out, once 10 have ended.
      abortConfig: { CriteriaList: [{ Action: "CANCEL", FailureType: "ALL", MinNumberOfExecutedThings: 10, ThresholdPercentage: 10 }] },
      timeoutConfig: { InProgressTimeoutInMinutes: UPDATE_TIMEOUT_MINUTES },
      // A device that went silent mid-update gets one more try; a FAILED update (bad image, failed self-test) does not.
      jobExecutionsRetryConfig: { retryCriteriaList: [{ failureType: "TIMED_OUT", numberOfRetries: 1 }] },
    });

    const arn = (resource: string) => stack.formatArn({ service: "iot", resource });
    this.operatorPolicy = new ManagedPolicy(this, "OperatorPolicy", {
      managedPolicyName: `${props.namePrefix}-firmware-operator`,
      description: "Release firmware updates: upload images and job documents, create streams and jobs from the template",
      statements: [
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"],
          resources: [this.bucket.arnForObjects(`${IMAGE_PREFIX}*`), this.bucket.arnForObjects(`${JOB_DOCUMENT_PREFIX}*`)],
        }),
        new PolicyStatement({ effect: Effect.ALLOW, actions: ["iot:CreateStream", "iot:DescribeStream", "iot:UpdateStream", "iot:DeleteStream"], resources: [arn("stream/*")] }),
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ["iot:CreateJob"],
          resources: [arn("job/*"), arn("thing/*"), arn("thinggroup/*"), arn(`jobtemplate/${templateId}`)],
        }),
        new PolicyStatement({ effect: Effect.ALLOW, actions: ["iot:DescribeJob", "iot:DescribeJobExecution", "iot:CancelJob", "iot:ListJobExecutionsForJob"], resources: [arn("job/*")] }),
        // create-stream and presigned URLs hand the image role to AWS IoT.
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ["iam:PassRole"],
          resources: [this.imageRole.roleArn],
          conditions: { StringEquals: { "iam:PassedToService": "iot.amazonaws.com" } },
        }),
      ],
    });
  }
}
