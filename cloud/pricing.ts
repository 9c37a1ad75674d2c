// AWS list prices the cost figure (`npm run bench -- cloud`, tools/bench/cloud.ts) is computed
// with: first tier, US East (N. Virginia), on demand, in USD, as read on PRICES_AS_OF. Each entry
// says where it was read. Prices change: re-check them before quoting a figure, and change the
// date when you do. The metering rules (what counts as a message, 5 KB units) are in METERING.

export const PRICES_AS_OF = "2026-11-24";

export interface Price {
  usd: number;
  per: string;
  source: string;
}

export const PRICES = {
  /** IoT Core messaging, first billion a month; a message is metered in 5 KB units. */
  iotMessage: { usd: 1.0 / 1e6, per: "message (5 KB unit)", source: "AWS IoT Core pricing page (aws.amazon.com/iot-core/pricing/): $1.00 per million messages, first 1 billion; as given in the task brief, 2026-11-24" },
  /** IoT Core connectivity. */
  iotConnectionMinute: { usd: 0.08 / 1e6, per: "connection-minute", source: "AWS IoT Core pricing page: $0.08 per million minutes of connection; as given in the task brief, 2026-11-24" },
  /** Rules engine: each rule triggered, and each action executed (at least one per triggered rule). */
  iotRuleTriggered: { usd: 0.15 / 1e6, per: "rule triggered", source: "AWS IoT Core pricing page: $0.15 per million rules triggered; as given in the task brief, 2026-11-24" },
  iotActionExecuted: { usd: 0.15 / 1e6, per: "action executed", source: "AWS IoT Core pricing page: $0.15 per million actions executed; as given in the task brief, 2026-11-24" },
  /** DynamoDB on-demand: one write request unit per started 1 KB of item. */
  dynamoWriteRequestUnit: {
    usd: 0.625 / 1e6,
    per: "write request unit (1 KB)",
    source: "$0.625 per million write request units, US East on demand (the November 2024 halving): airbyte.com/data-engineering-resources/dynamodb-pricing; AWS News Blog 'Amazon DynamoDB On-Demand' updated 2025-01-31 on the reduced on-demand price; read 2026-11-24",
  },
  /** Firehose Direct PUT ingestion (what an IoT rule action uses), each record rounded up to 5 KB. */
  firehoseIngestGb: {
    usd: 0.029,
    per: "GB ingested (records rounded up to 5 KB)",
    source: "5 KB rounding per record: aws.amazon.com/kinesis/data-firehose/pricing/ (read 2026-11-24); $0.029 per GB for the first 500 TB a month: the page's rate cells were not in the stored copy, the rate is the one quoted by secondary sources read 2026-11-24",
  },
  /** S3 Standard storage, first 50 TB a month. */
  s3StorageGbMonth: { usd: 0.023, per: "GB-month", source: "cloudburn.io/blog/amazon-s3-pricing ('All prices are for US East (N. Virginia) as of March 2026', 2026-03-13): S3 Standard $0.023/GB-month; read 2026-11-24" },
  /** S3 Standard PUT, COPY, POST, LIST. */
  s3Put: { usd: 0.005 / 1000, per: "PUT request", source: "c3x.dev/blog/s3-request-fees-explained: S3 Standard PUT, COPY, POST, LIST $0.005 per 1,000; read 2026-11-24" },
} satisfies Record<string, Price>;

/** How AWS counts, from aws.amazon.com/iot-core/pricing/additional-details/ (read 2026-11-24) and the Basic Ingest guide. */
export const METERING = {
  /** Messages, rules and actions are metered in 5 KB units (payload plus topic for a PUBLISH). */
  messageUnitBytes: 5 * 1024,
  /** A PUBLISH received with RETAIN is metered twice: as PUBLISH and as RETAINED. */
  retainedCountsTwice: true,
  /** PUBACK sent by the service, PINGREQ/PINGRESP, CONNACK, SUBACK, DISCONNECT: not metered. */
  pubackFromServiceMetered: false,
  /** CONNECT is metered with its will topic and will payload; SUBSCRIBE with its topic filters. */
  connectCountsWill: true,
  /** Basic Ingest ($aws/rules/<rule>/...): no messaging charge; rules and actions as usual (docs.aws.amazon.com/iot/latest/developerguide/iot-basic-ingest.html). */
  basicIngestMessaging: false,
  /** DynamoDB: a write request unit per started 1 KB of item. */
  dynamoWriteUnitBytes: 1024,
  /** Firehose Direct PUT: each record rounded up to 5 KB. */
  firehoseRecordUnitBytes: 5 * 1024,
} as const;

/** Billed 5 KB (or other) units of a size. */
export function units(bytes: number, unitBytes: number): number {
  return Math.max(1, Math.ceil(bytes / unitBytes));
}
