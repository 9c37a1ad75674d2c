// The fleet suites (commands, reset reason, identity store, provisioning, certificates, shadow): imported by
// host-tests/fleet-portable.test.ts, which runs them on Node and bundles them for the XS engine.
import "./fleet-commands.suite";
import "./fleet-reset.suite";
import "./fleet-provisioning.suite";
import "./fleet-certificate.suite";
import "./fleet-shadow.suite";
