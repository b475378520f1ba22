// `npm test`: typecheck, then `bun test`, then one closing line `N passed, N failed` (CI reads it).
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules/.bin", name);

let typeFailures = 0;
const tsc = spawnSync(bin("tsc"), ["--noEmit", "-p", root], { cwd: root, stdio: "inherit" });
if (tsc.status !== 0) {
  process.stderr.write("typecheck failed (tsc --noEmit)\n");
  typeFailures = 1;
}

const args = ["test", ...process.argv.slice(2)];
const child = spawn(bin("bun"), args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0" } });
let pass = 0, fail = 0, skip = 0, sawSummary = false;
const scan = (chunk, out) => {
  out.write(chunk);
  for (const line of chunk.toString().split("\n")) {
    let m;
    if ((m = /^\s*(\d+) pass\s*$/.exec(line))) { pass = +m[1]; sawSummary = true; }
    else if ((m = /^\s*(\d+) fail\s*$/.exec(line))) fail = +m[1];
    else if ((m = /^\s*(\d+) skip\s*$/.exec(line))) skip = +m[1];
  }
};
child.stdout.on("data", (c) => scan(c, process.stdout));
child.stderr.on("data", (c) => scan(c, process.stderr));
child.on("close", (code) => {
  if (!sawSummary || (code !== 0 && fail === 0)) fail += 1; // a crash or a runner error is a failure
  fail += typeFailures;
  process.stdout.write(`\n${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ""}\n`);
  process.exit(fail === 0 ? 0 : 1);
});
