// Builds dist/: CommonJS + declarations from TypeScript, then the thin ESM wrapper.
// Why a wrapper rather than a second compile: one copy of every class means `instanceof`
// and module state (the zlib limiter, the heartbeat wheel) are shared whether an app
// mixes `import` and `require` or not (the "dual package hazard"). ws ships the same shape.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const tsc = require.resolve("typescript/bin/tsc");

rmSync(join(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
  stdio: "inherit",
});
mkdirSync(join(root, "dist/esm"), { recursive: true });
copyFileSync(join(root, "src/esm/index.mjs"), join(root, "dist/esm/index.mjs"));
copyFileSync(join(root, "src/esm/index.d.mts"), join(root, "dist/esm/index.d.mts"));
const cli = join(root, "dist/cjs/cli/main.js");
if (existsSync(cli)) chmodSync(cli, 0o755);
