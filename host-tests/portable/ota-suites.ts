// The OTA suites: run on Node by host-tests/ota-portable.test.ts and on XS by host-tests/ota-xs.test.ts
// (kept apart from suites.ts until the OTA work is merged; see src/ota/INTEGRATION.md).
import "./ota-crypto.suite";
import "./ota-jobs.suite";
import "./ota-record.suite";
import "./ota-update.suite";
import "./ota-stream.suite";
