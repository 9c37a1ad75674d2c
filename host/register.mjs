// node --import tsx --import ./host/register.mjs: the host target's counterpart of a manifest's
// module map. Moddable specifiers the firmware imports resolve to the Node implementations named in
// tsconfig.host.json "paths", so type checking and running use one map.
import { register } from "node:module";

register("./resolve-moddable.mjs", import.meta.url);
