// Every portable suite: imported by the Node runner and bundled for the XS engine.
import "./checks.suite";
import "./codec.suite";
import "./telemetry.suite";
import "./resolver.suite";
import "./clock-sync.suite";
import "./alarms.suite";
import "./pipeline.suite";
import "./sht3x.suite";
import "./flashlog.suite";
import "./session.suite";
import "./rtd.suite";
import "./bme280.suite";
import "./max31865.suite";
import "./adxl345.suite";
