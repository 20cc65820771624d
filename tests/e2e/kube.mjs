// kube.mjs -- e2e.kube: the Kubernetes manifests of deploy/k8s, played for real with `podman
// kube play` (podman 4.3, runc) on a podman network made for the test: the image built by
// deploy/build-image.sh, the master (Deployment, Recreate, its PVC), the target `herd node`, and
// the worker Deployment twice, as two regions (eu: 2 replicas, us: 1). The files played are the
// ones kustomization.yaml lists, copied with these substitutions only: the image name, the
// secret's and the volume's names (this run's), the master's address (the pod name
// herd-master-pod-0: podman 4.3 ignores Services), and the worker's name, herd/region label
// (HERD_REGION reads it) and replicas, as docs/deploy.md makes a region's workers.
// From the host (which reaches pods on the network by their IP), through the REST API with the
// token: every worker registers under its pod name in its region; a request-count task lands
// exactly at the target (its own counter, GET /api/v1/cluster/status); then, in a second,
// rate-limited task, one worker pod is removed with SIGKILL (a node lost) mid-task: the master
// declares it lost and gives its unfinished requests to the others, the task completes with
// exactly its requests, and the target answered those plus what the killed worker had sent
// since its last acknowledged interval (SIGKILL takes that count with it: docs/distributed.md),
// which is less than its unfinished share. The report comes back in Markdown. In a third task
// another worker pod is removed as `kubectl delete pod` does (SIGTERM, a plain `pod rm -f`): the
// worker stops its load and posts its last results, the master reassigns the rest of its share
// at once, the task completes with exactly its requests and the target served exactly what the
// master counted (less only any request in flight at the stop that never reached it). Last, the
// master pod is replaced (removed, its Deployment played again on the same volume): the three
// tasks come back from its store and the worker left registers with it again. Pods, volume,
// network, secret and image go away at the end, on failure too; a run killed before that is
// cleaned up by the next one (names carry the run's pid).
// Exit 77 (skip) only where podman cannot run: not root, no podman, `podman info` fails, or
// podman or its runtime fails to start a container of the image (a chroot has no cgroups).
// Env: HERD_SOURCE_DIR (the repository), HERD_IMAGE_BIN (the herd copied into the image: a
// release build, build/herd), HERD_E2E_KEEP=1 keeps everything for a look.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";

const SKIP = 77;
const source = process.env.HERD_SOURCE_DIR;
const herdBin = process.env.HERD_IMAGE_BIN;
assert.ok(source && existsSync(path.join(source, "deploy/k8s/kustomization.yaml")),
  "HERD_SOURCE_DIR must name the repository");
const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s]`, ...a);

function skip(reason) {
  console.log(`e2e.kube: skipped: ${reason}`);
  process.exit(SKIP);
}

if (process.getuid() !== 0)
  skip("podman kube play with pods on a network of their own needs root here (rootless podman needs subuids and slirp4netns)");
const podmanPath = ["/usr/bin/podman", "/usr/local/bin/podman"].find(existsSync);
if (!podmanPath) skip("podman is not installed (apt-get install podman runc iptables catatonit)");
assert.ok(herdBin && existsSync(herdBin),
  `HERD_IMAGE_BIN '${herdBin}': the release build the image is made of is missing (make build)`);

const work = mkdtempSync(path.join(os.tmpdir(), "herd-e2e-kube-"));
// crun refuses this kind of machine's hybrid cgroups; the default ulimits cannot be set here
const conf = path.join(work, "containers.conf");
writeFileSync(conf, "[containers]\ndefault_ulimits = []\n");
const env = { ...process.env, CONTAINERS_CONF: conf };

// podman ARGS; returns {status, out, err}; throws when it fails unless ok_fail
function podman(args, { okFail = false, input } = {}) {
  // in the run's own directory: kube play builds an image from a folder named like the image
  // (herd) in its working directory, as build-asan/herd would look to it
  const r = spawnSync(podmanPath, ["--runtime", "runc", ...args],
    { env, input, cwd: work, encoding: "utf8", timeout: 120000 });
  const res = { status: r.status, out: (r.stdout || "").trim(), err: (r.stderr || "").trim() };
  if (!okFail && r.status !== 0)
    throw new Error(`podman ${args.join(" ")}: exit ${r.status}: ${res.err || r.error}`);
  return res;
}

const info = podman(["info", "--format", "{{.Host.OCIRuntime.Name}}"], { okFail: true });
if (info.status !== 0) {
  rmSync(work, { recursive: true, force: true });
  skip(`podman --runtime runc info fails: ${info.err.split("\n").pop()}`);
}

const run = process.pid;
const names = {
  net: `herd-e2e-kube-${run}`,
  secret: `herd-token-e2e-${run}`,
  volume: `herd-master-db-e2e-${run}`,
  image: `localhost/herd:e2e-${run}`,
};
const victim = "herd-worker-eu-pod-1";
const regions = [{ name: "eu", replicas: 2 }, { name: "us", replicas: 1 }];
let pods = []; // the pods this run's manifests make, from the Deployments' names and replicas

// ---- cleanup: this run's, and what an earlier run killed before its own left behind ----

function removeAll(tag) {
  const tidy = (args) => {
    const r = podman(args, { okFail: true });
    if (r.status !== 0 && !/no such|not found|no secret/i.test(r.err))
      console.error(`e2e.kube: cleanup: podman ${args.join(" ")}: ${r.err}`);
  };
  if (pods.length) tidy(["pod", "rm", "-f", "-t", "0", "--ignore", ...pods]);
  tidy(["volume", "rm", "-f", `herd-master-db-e2e-${tag}`]);
  tidy(["network", "rm", "-f", `herd-e2e-kube-${tag}`]);
  tidy(["secret", "rm", `herd-token-e2e-${tag}`]);
  tidy(["rmi", "-f", `localhost/herd:e2e-${tag}`]);
}

function cleanup() {
  if (process.env.HERD_E2E_KEEP) {
    console.log(`kept: pods ${pods.join(" ")}, ${Object.values(names).join(", ")}, ${work}`);
    return;
  }
  removeAll(String(run));
  rmSync(work, { recursive: true, force: true });
}

// an earlier run's leftovers (its pid is gone): its network names it
function removeStale() {
  const nets = podman(["network", "ls", "--format", "{{.Name}}"], { okFail: true }).out;
  for (const n of nets.split("\n")) {
    const m = /^herd-e2e-kube-(\d+)$/.exec(n);
    if (!m || existsSync(`/proc/${m[1]}`)) continue;
    log(`removing the leftovers of an earlier run (${m[1]})`);
    const inNet = podman(["ps", "-a", "--filter", `network=${n}`, "--format", "{{.PodName}}"],
      { okFail: true }).out.split("\n").filter(Boolean);
    pods = [...new Set(inNet)];
    removeAll(m[1]);
    pods = [];
  }
}

let cleaned = false;
function cleanupOnce() {
  if (cleaned) return;
  cleaned = true;
  cleanup();
}
// a reader that went away (| head) is no reason to leave pods behind
process.stdout.on("error", () => {});
process.stderr.on("error", () => {});
process.on("uncaughtException", (e) => {
  console.error(`e2e.kube: ${e.stack || e}`);
  cleanupOnce();
  process.exit(1);
});
process.on("exit", cleanupOnce);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(sig, () => {
    console.error(`e2e.kube: ${sig}: cleaning up`);
    cleanupOnce();
    process.exit(1);
  });
// started once the image is built (the first build, a debootstrap, depends on the mirror)
let watchdog;
function startWatchdog() {
  watchdog = setTimeout(() => {
    console.error("e2e.kube: timed out after 240 s (the image built)");
    dumpLogs();
    cleanupOnce();
    process.exit(1);
  }, 240000);
}

function dumpLogs() {
  for (const p of pods) {
    const ps = podman(["ps", "-a", "--filter", `pod=${p}`, "--format", "{{.Names}}"], { okFail: true });
    for (const c of ps.out.split("\n").filter((c) => c && !c.endsWith("-infra"))) {
      const l = podman(["logs", "--tail", "40", c], { okFail: true });
      console.error(`---- ${c} ----\n${l.out}\n${l.err}`);
    }
  }
}

// ---- the manifests, as kustomization.yaml lists them, with this run's substitutions ----

// text with each [pattern, replacement] applied; a pattern that matches nothing fails the test
// (the manifest changed under it)
function substitute(file, text, pairs) {
  for (const [from, to] of pairs) {
    from.lastIndex = 0;
    assert.ok(from.test(text), `${file}: ${from} not found: update tests/e2e/kube.mjs`);
    text = text.replace(from, to);
  }
  return text;
}

function manifests() {
  const k8s = path.join(source, "deploy/k8s");
  const kust = readFileSync(path.join(k8s, "kustomization.yaml"), "utf8");
  const block = /^resources:\n((?:[ \t]+-[^\n]*\n)+)/m.exec(kust);
  assert.ok(block, "deploy/k8s/kustomization.yaml: no resources list");
  const files = block[1].split("\n").map((l) => l.replace(/^\s*-\s*/, "").trim()).filter(Boolean);
  const image = [/^(\s+image:) herd$/gm, `$1 ${names.image}`];
  const secret = [/(secretKeyRef: \{name:) herd-token,/g, `$1 ${names.secret},`];
  const out = [];
  for (const f of files) {
    const text = readFileSync(path.join(k8s, f), "utf8");
    const kind = /component: (\w+)/.exec(text)?.[1];
    if (kind === "worker") {
      for (const r of regions)
        out.push({ file: `worker-${r.name}.yaml`, text: substitute(f, text, [image, secret,
          [/^(  name:) herd-worker$/m, `$1 herd-worker-${r.name}`],
          [/(name: HERD_MASTER\n\s+value:) http:\/\/herd-master:8080/, "$1 http://herd-master-pod-0:8080"],
          [/herd\/region: default/g, `herd/region: ${r.name}`],
          [/^(  replicas:) \d+/m, `$1 ${r.replicas}`],
        ]) });
    } else if (kind === "master") {
      out.unshift({ file: f, text: substitute(f, text, [image, secret,
        [/herd-master-db/g, names.volume]]) });
    } else {
      out.push({ file: f, text: substitute(f, text, [image]) });
    }
  }
  // the pods podman makes: NAME-pod-N for each replica of each Deployment
  for (const m of out)
    for (const d of m.text.matchAll(/kind: Deployment\nmetadata:\n  name: (\S+)[\s\S]*?\n  replicas: (\d+)/g))
      for (let i = 0; i < Number(d[2]); i++) pods.push(`${d[1]}-pod-${i}`);
  return out;
}

// ---- talking to the pods from the host ----

function podIp(pod) {
  const infra = podman(["pod", "inspect", pod, "--format", "{{.InfraContainerID}}"]).out;
  const ip = podman(["inspect", infra, "--format",
    `{{(index .NetworkSettings.Networks "${names.net}").IPAddress}}`]).out;
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, `${pod}: no address on ${names.net}`);
  return ip;
}

let master = "", token = "";
async function api(method, route, body) {
  const r = await fetch(`${master}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  return { status: r.status, text, json: text.startsWith("{") ? JSON.parse(text) : null };
}

async function waitFor(what, ms, probe) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what} (last: ${JSON.stringify(last)})`);
}

// the target's own count of answers (this call's own answer is not in it, later ones count it)
async function targetTotal(target) {
  const r = await fetch(`${target}/api/v1/cluster/status`, { signal: AbortSignal.timeout(10000) });
  return (await r.json()).status.total_requests;
}

async function runTask(config) {
  const made = await api("POST", "/api/v1/tasks", { config });
  assert.equal(made.status, 201, made.text);
  const id = made.json.task_id;
  const start = await api("POST", `/api/v1/tasks/${id}/start`);
  assert.equal(start.status, 200, start.text);
  return id;
}

const task = async (id) => (await api("GET", `/api/v1/tasks/${id}`)).json;

// the task once it has ended (completed, failed or cancelled)
function taskEnd(id, ms) {
  return waitFor(`task ${id} to end`, ms, async () => {
    const t = await task(id);
    return t && !["pending", "running"].includes(t.state) && t;
  });
}

// ---- the test ----

async function main() {
  removeStale();
  const list = manifests();
  for (const p of pods) {
    const exists = podman(["pod", "exists", p], { okFail: true }).status === 0;
    assert.ok(!exists, `a pod named ${p} exists already (not an earlier run's of this test): remove it first`);
  }
  log("building the image (deploy/build-image.sh)");
  const t0 = Date.now();
  const build = spawnSync(path.join(source, "deploy/build-image.sh"),
    ["-t", names.image, "--herd", herdBin], { env, encoding: "utf8", timeout: 600000 });
  // can podman run a container at all here? A chroot without cgroups cannot ("runc create
  // failed: no cgroup mount found", exit 126), so neither the build's RUN step nor any pod can.
  // 125 is podman's own failure, 126 the runtime's; one that names the entrypoint (not
  // executable, missing: 126, 127), and anything else the image does, fails the test
  const cannotRun = (r) =>
    r.status === 125 || (r.status === 126 && !r.err.includes("/usr/local/bin/herd"));
  if (build.status !== 0) {
    const base = "localhost/herd-base:bookworm";
    if (podman(["image", "exists", base], { okFail: true }).status === 0) {
      const probe = podman(["run", "--rm", "--network", "none", base, "/bin/true"], { okFail: true });
      if (cannotRun(probe)) skip(`podman cannot run a container here: ${probe.err.split("\n").pop()}`);
    }
    assert.fail(`deploy/build-image.sh: exit ${build.status}: ${build.stderr}`);
  }
  startWatchdog();
  log(`image built in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${build.stderr.trim().split("\n").join("; ")}`);
  const probe = podman(["run", "--rm", "--network", "none", names.image, "--version"], { okFail: true });
  if (cannotRun(probe)) skip(`podman cannot run a container here: ${probe.err.split("\n").pop()}`);
  assert.equal(probe.status, 0, `herd --version in the image: exit ${probe.status}: ${probe.err}`);
  assert.match(probe.out, /^herd \d/);

  token = randomBytes(24).toString("hex");
  const secretFile = path.join(work, "secret.json");
  writeFileSync(secretFile, JSON.stringify({ token: Buffer.from(token).toString("base64") }));
  podman(["secret", "create", names.secret, secretFile]);
  podman(["network", "create", names.net]);
  for (const m of list) {
    const file = path.join(work, m.file);
    writeFileSync(file, m.text);
    podman(["kube", "play", "--network", names.net, file]);
  }
  log(`played ${list.map((m) => m.file).join(", ")}: pods ${pods.join(", ")}`);

  master = `http://${podIp("herd-master-pod-0")}:8080`;
  const target = `http://${podIp("herd-target-pod-0")}:8081`;
  const workerPods = pods.filter((p) => p.startsWith("herd-worker-"));
  assert.equal(workerPods.length, 3);
  // every worker registers under its pod name (HERD_ID from metadata.name), in its region
  const workers = await waitFor("3 active workers", 90000, async () => {
    const r = await api("GET", "/api/v1/workers");
    const ws = r.status === 200 ? r.json.workers.filter((w) => w.state === "active") : [];
    return ws.length === 3 ? ws : false;
  });
  assert.deepEqual(workers.map((w) => `${w.id}:${w.region}`).sort(),
    ["herd-worker-eu-pod-0:eu", "herd-worker-eu-pod-1:eu", "herd-worker-us-pod-0:us"]);
  for (const w of workers)
    assert.equal(w.cores, 2, `${w.id}: HERD_CORES from the CPU limit (2), got ${w.cores}`);
  // reads from another host than the master's loopback need the token
  const anonymous = await fetch(`${master}/api/v1/workers`, { signal: AbortSignal.timeout(10000) });
  assert.equal(anonymous.status, 401);
  log("3 workers registered: " + workers.map((w) => `${w.id} (${w.region})`).join(", "));

  // 1. a request-count task lands exactly at the target
  const url = "http://herd-target-pod-0:8081/echo";
  let before = await targetTotal(target);
  const first = await runTask({ url, requests: 1500, concurrency: 6 });
  let t = await taskEnd(first, 60000);
  assert.equal(t.state, "completed", t.message);
  assert.equal(t.totals.requests, 1500);
  assert.equal(t.totals.ok, 1500);
  assert.deepEqual(t.regions.map((r) => `${r.region}:${r.workers}:${r.requests}`).sort(),
    ["eu:2:1000", "us:1:500"]);
  let served = (await targetTotal(target)) - before - 1;
  assert.equal(served, 1500, "the target's own count of the first task's requests");
  log(`task ${first}: 1500 requests, the target counted ${served}`);

  // 2. a worker pod lost mid-task: its unfinished requests go to the others
  before = await targetTotal(target);
  const requests = 2400;
  const second = await runTask({ url, requests, concurrency: 6, rate: 120 });
  await waitFor(`${victim} to have results acknowledged`, 60000, async () => {
    const w = (await task(second)).workers?.find((w) => w.id === victim);
    return w && w.requests >= 120;
  });
  const killed = podman(["pod", "rm", "-f", "-t", "0", victim]);
  log(`removed ${victim} with SIGKILL (${killed.status === 0 ? "ok" : killed.err})`);
  t = await taskEnd(second, 180000);
  assert.equal(t.state, "completed", t.message);
  assert.equal(t.totals.requests, requests, "the task's requests, reached exactly once");
  assert.equal(t.totals.ok, requests);
  assert.match(t.message, new RegExp(`worker ${victim} lost: its \\d+ unfinished requests were reassigned to`));
  const share = t.assignments.find((a) => a.worker_id === victim && a.reassigned_from === "");
  assert.equal(share.state, "reassigned");
  const lost = t.workers.find((w) => w.id === victim);
  assert.equal(lost.lost, true);
  const unfinished = share.requests - lost.requests;
  const taken = t.assignments.filter((a) => a.reassigned_from === victim);
  assert.ok(taken.length >= 1, "parts made of the lost worker's rest");
  assert.equal(taken.reduce((s, a) => s + a.requests, 0), unfinished,
    "the parts made of the lost worker's rest add up to its unfinished requests");
  for (const a of taken) assert.notEqual(a.worker_id, victim);
  served = (await targetTotal(target)) - before - 1;
  assert.ok(served >= requests && served - requests < unfinished,
    `the target answered ${served}: the task's ${requests} plus what ${victim} sent after its ` +
    `last acknowledged interval, less than its ${unfinished} unfinished`);
  log(`task ${second}: ${requests} requests; ${victim} lost with ${unfinished} unfinished, ` +
    `reassigned to ${taken.map((a) => `${a.worker_id} (${a.requests})`).join(", ")}; ` +
    `the target answered ${served} (${served - requests} sent by ${victim} and never acknowledged)`);

  // the report, as a user downloads it
  const md = await api("GET", `/api/v1/tasks/${second}/report?format=md`);
  assert.equal(md.status, 200);
  assert.ok(md.text.includes(victim), "the Markdown report names the lost worker");

  // 3. a worker pod deleted as kubectl does (SIGTERM): its rest goes to the worker left, exactly
  const stopped = "herd-worker-us-pod-0";
  before = await targetTotal(target);
  const third = await runTask({ url, requests: 1200, concurrency: 4, rate: 120 });
  await waitFor(`${stopped} to have results acknowledged`, 60000, async () => {
    const w = (await task(third)).workers?.find((w) => w.id === stopped);
    return w && w.requests >= 60;
  });
  const termed = podman(["pod", "rm", "-f", stopped]); // SIGTERM, then SIGKILL after 10 s
  log(`removed ${stopped} with SIGTERM (${termed.status === 0 ? "ok" : termed.err})`);
  t = await taskEnd(third, 180000);
  assert.equal(t.state, "completed", t.message);
  assert.equal(t.totals.requests, 1200, "the task's requests, reached exactly once");
  assert.match(t.message, new RegExp(`worker ${stopped} stopped before the end of its share: ` +
    "its \\d+ unfinished requests were reassigned to herd-worker-eu-pod-0"));
  const gone = t.workers.find((w) => w.id === stopped);
  const inFlight = gone.failures ?? 0; /* in flight at the stop: counted, unanswered */
  served = (await targetTotal(target)) - before - 1;
  assert.ok(served <= 1200 && served >= 1200 - inFlight,
    `the target served ${served} of the 1200 the master counted (${inFlight} in flight at the stop)`);
  log(`task ${third}: 1200 requests; ${stopped} stopped by SIGTERM, its rest reassigned; ` +
    `the target served ${served}`);

  // 4. the master pod replaced (Recreate: the old one goes, a new one mounts the same volume):
  // the tasks come back from the store, and the workers register with the new master
  podman(["pod", "rm", "-f", "herd-master-pod-0"]); // SIGTERM, as a rollout stops it
  const masterDoc = list[0].text.split(/^---\n/m).filter((d) => /^kind: Deployment$/m.test(d));
  assert.equal(masterDoc.length, 1);
  const again = path.join(work, "master-again.yaml");
  writeFileSync(again, masterDoc[0]); // the Deployment alone: its volume is there already
  podman(["kube", "play", "--network", names.net, again]);
  master = `http://${podIp("herd-master-pod-0")}:8080`;
  await waitFor("the worker left to register with the new master", 90000, async () => {
    const r = await api("GET", "/api/v1/workers");
    const ws = r.status === 200 ? r.json.workers.filter((w) => w.state === "active") : [];
    return ws.length === 1 && ws[0].id === "herd-worker-eu-pod-0";
  });
  for (const [id, n] of [[first, 1500], [second, requests], [third, 1200]]) {
    const back = await task(id);
    assert.equal(back.state, "completed", `${id} after the master's restart`);
    assert.equal(back.totals.requests, n, `${id}'s requests after the master's restart`);
  }
  log("the master pod replaced: the three tasks back from its volume, the worker left registered again");
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error(`e2e.kube: FAILED: ${e.stack || e}`);
  dumpLogs();
} finally {
  clearTimeout(watchdog);
  cleanupOnce();
}
log(failed ? "failed" : "passed");
process.exit(failed ? 1 : 0);
