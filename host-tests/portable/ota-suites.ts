// The OTA suites: run on Node by host-tests/ota-portable.test.ts and on XS by host-tests/ota-xs.test.ts
// (their own runner files: the XS one also meters what verification costs).
import "./ota-crypto.suite";
import "./ota-jobs.suite";
import "./ota-record.suite";
import "./ota-update.suite";
import "./ota-stream.suite";
