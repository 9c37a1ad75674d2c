// npm run sim -- --fleet: the fleet operations on the simulator, against the embedded broker with a
// double of AWS's named-shadow service (host-tests/support/shadow-double.ts). Once the node is online
// it is sent a diagnostics command, a shadow change (5 s windows with min and max on the process
// temperature, flush after 2 s) and then an invalid one; what comes back is printed.

import type { Aedes } from "aedes";
import { attachShadowDouble } from "../../host-tests/support/shadow-double.ts";

export function runFleetDemo(aedes: Aedes, thing: string, topicRoot: string, say: (text: string) => void): void {
  const shadow = attachShadowDouble(aedes, { thing, shadowName: "config" });
  const command = (name: string, body: unknown) => {
    say(`fleet: -> ${topicRoot}command/${name} ${JSON.stringify(body)}\n`);
    aedes.publish({ cmd: "publish", topic: `${topicRoot}command/${name}`, payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false }, () => {});
  };
  let step = 0;
  aedes.on("publish", (packet, client) => {
    if (!client) return;
    if (packet.topic === `${topicRoot}response`) say(`fleet: <- response ${packet.payload.toString()}\n`);
    if (packet.topic.endsWith("/shadow/name/config/update")) say(`fleet: <- shadow report ${packet.payload.toString()}\n`);
    if (packet.topic === `${topicRoot}telemetry` && step === 0) {
      step = 1;
      setTimeout(() => command("diagnostics", { id: "sim-diag-1" }), 500);
      setTimeout(() => {
        const change = { flush_ms: 2000, channels: { "max31865.temperature": { interval_s: 5, stats: ["min", "max"] }, "sht3x.temperature": {}, "sht3x.humidity": {} } };
        say(`fleet: -> shadow desired ${JSON.stringify(change)}\n`);
        shadow.setDesired(change);
      }, 3000);
      setTimeout(() => {
        say(`fleet: -> shadow desired {"heartbeat_s":"hourly"} (invalid)\n`);
        shadow.setDesired({ heartbeat_s: "hourly" });
      }, 15_000);
      setTimeout(() => command("identify", { id: "sim-identify-1", seconds: 3 }), 18_000);
    }
  });
}
