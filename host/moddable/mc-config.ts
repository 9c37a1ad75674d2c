// mc/config on Node: what the manifest's "config" and mcconfig key=value arguments give a device.
// The host runner fills it before the firmware's main module is imported.

const config: Record<string, unknown> & { file: { root: string } } = { file: { root: "" } };

export function setConfig(values: Record<string, unknown>): void {
  for (const key of Object.keys(config)) if (key !== "file") delete config[key];
  Object.assign(config, values);
}

export default config;
