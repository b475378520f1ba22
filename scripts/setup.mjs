// Installs what `npm start`, `npm test` and `npm run bench` need on a fresh Debian/Ubuntu machine
// that has only Node and npm: the npm dependencies (Bun itself comes from the npm registry) and
// Debian's liburing2. Nothing is downloaded from anywhere else. Idempotent and quiet when all is there.
import { existsSync } from "node:fs";
import { execSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const say = (m) => process.stderr.write(`[setup] ${m}\n`);

if (process.platform !== "linux") {
  say(`bun-uring runs on Linux only (io_uring); this is ${process.platform}.`);
  process.exit(1);
}

if (!existsSync(join(root, "node_modules/.bin/bun")) || !existsSync(join(root, "node_modules/.bin/tsc"))) {
  say("installing npm dependencies (npm install)...");
  const r = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--foreground-scripts"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const libDirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"];
const haveLiburing = () => libDirs.some((d) => existsSync(join(d, "liburing.so.2")));
const aptInstall = (pkgs) => {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  spawnSync("apt-get", ["update", "-qq"], { stdio: "ignore", env });
  return spawnSync("apt-get", ["install", "-y", "-qq", ...pkgs], { stdio: ["ignore", "ignore", "inherit"], env }).status === 0;
};
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const hasApt = () => {
  try { execSync("command -v apt-get", { stdio: "ignore" }); return true; } catch { return false; }
};

if (!haveLiburing()) {
  if (isRoot && hasApt()) {
    say("installing liburing2 (apt-get install liburing2)...");
    if (!aptInstall(["liburing2"]) || !haveLiburing()) {
      say("could not install liburing2; run: apt-get install -y liburing2");
      process.exit(1);
    }
  } else {
    say("liburing.so.2 is missing; run: sudo apt-get install -y liburing2");
    process.exit(1);
  }
}

// liburing.h (liburing-dev) lets the SQE encoder tests compare our bytes with liburing's own
// io_uring_prep_* (compiled with cc); optional: those tests skip without it.
if (isRoot && hasApt() && !existsSync("/usr/include/liburing.h")) {
  say("installing liburing-dev (headers, for the SQE encoder oracle tests)...");
  aptInstall(["liburing-dev"]);
}

// Optional tools for the benchmarks and some tests; each is skipped with a line when absent.
const wanted = (process.env.BUN_URING_SETUP_EXTRA ?? "").split(",").filter(Boolean);
if (wanted.length && isRoot && hasApt()) {
  const missing = wanted.filter((bin) => {
    try { execSync(`command -v ${bin}`, { stdio: "ignore" }); return false; } catch { return true; }
  });
  if (missing.length) {
    say(`installing ${missing.join(", ")} from Debian's packages...`);
    aptInstall(missing.map((b) => (b === "nginx" ? "nginx-light" : b)));
  }
}
