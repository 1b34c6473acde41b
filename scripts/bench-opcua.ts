/**
 * `npm run bench:opcua [-- --minutes 3 --rate 10 --scoring-ms 40]`: a PLC-like
 * client triggers parts at `rate` parts/s through the OPC UA `Trigger` method
 * over Basic256Sha256 SignAndEncrypt with a user name, subscribed to
 * `ResultReadyEventType` events, and reports the trigger-to-result-event
 * latency (p50/p99/max) and the parts with a missing or duplicated result.
 *
 * The first 20 parts warm the code paths up and are not counted. The server runs in its own process (as on the device) in front of a FAKE
 * device (fixtures/fake-vision-device.ts) that answers each trigger with a
 * verdict after `scoring-ms`: the figures measure the OPC UA path (server,
 * security, subscription) plus that simulated scoring, not a real camera.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { DataType, MessageSecurityMode, type CallMethodRequestOptions } from 'node-opcua';
import { FakeVisionDevice } from '../fixtures/fake-vision-device.ts';
import { connectVisionClient, createClientIdentity, subscribeResultEvents, type VisionClient } from '../fixtures/opcua-client.ts';
import { percentile } from '../runtime/latency-window.ts';
import { VisionOpcUaServer } from '../runtime/opcua/server.ts';
import { round, writeBenchResult } from './bench-common.ts';
import { matchResults } from './bench-opcua-stats.ts';

const args = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    rate: { type: 'string', default: '10' },
    'scoring-ms': { type: 'string', default: '40' },
    serve: { type: 'string' },
  },
});
const PLC = { username: 'plc', password: process.env.BENCH_OPCUA_PASSWORD ?? 'bench-opcua-secret' };
const CAMERA = 'cam1';

/** Child mode: the server in front of the fake device, until stdin closes. */
async function serve(pkiDir: string, scoringMs: number): Promise<void> {
  const device = new FakeVisionDevice({ cameras: [{ id: CAMERA, product: 'washer', activeVersion: 'v1' }], recipes: [{ product: 'washer', versions: ['v1'], active: 'v1' }], scoringMs });
  const server = new VisionOpcUaServer({ host: '127.0.0.1', port: 0, allowAnonymous: false, allowSecurityNone: false, users: [PLC], pkiDir }, device);
  await server.start();
  console.log(JSON.stringify({ endpointUrl: server.endpointUrl }));
  process.stdin.resume();
  process.stdin.on('end', () => {
    device.close();
    void server.stop().then(() => process.exit(0));
  });
}

/** Starts the server process; resolves with its endpoint URL and a stop function. */
async function startServerProcess(pkiDir: string, scoringMs: number): Promise<{ endpointUrl: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--serve', pkiDir, '--scoring-ms', String(scoringMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const endpointUrl = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the OPC UA server process exited with ${code} before it listened`)));
    lines.on('line', (line) => {
      if (line.startsWith('{"endpointUrl"')) resolve((JSON.parse(line) as { endpointUrl: string }).endpointUrl);
    });
  });
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.end();
    await exited;
  };
  return { endpointUrl, stop };
}

const WARM_UP_PARTS = 20;

/** Triggers a few parts first (not counted): the first calls pay for compiling the code paths. */
async function warmUp(plc: VisionClient, rate: number): Promise<void> {
  for (let i = 0; i < WARM_UP_PARTS; i++) {
    await plc.session.call(triggerRequest(plc, `W-${i}`));
    await new Promise((r) => setTimeout(r, 1000 / rate));
  }
  await new Promise((r) => setTimeout(r, 500));
}

function triggerRequest(plc: VisionClient, partId: string): CallMethodRequestOptions {
  return {
    objectId: `ns=${plc.ns};s=VisionSystem`,
    methodId: `ns=${plc.ns};s=VisionSystem.Trigger`,
    inputArguments: [
      { dataType: DataType.String, value: CAMERA },
      { dataType: DataType.String, value: partId },
      { dataType: DataType.UInt32, value: 0 },
    ],
  };
}

async function bench(): Promise<void> {
  const minutes = Number(args.values.minutes);
  const rate = Number(args.values.rate);
  const scoringMs = Number(args.values['scoring-ms']);
  const work = await mkdtemp(join(tmpdir(), 'bench-opcua-'));
  const identity = await createClientIdentity(join(work, 'plc-pki'), 'bench-plc');
  const serverPki = join(work, 'server-pki');
  await mkdir(join(serverPki, 'trusted', 'certs'), { recursive: true });
  await copyFile(identity.certificateFile, join(serverPki, 'trusted', 'certs', 'bench-plc.pem'));
  const server = await startServerProcess(serverPki, scoringMs);
  const plc = await connectVisionClient(server.endpointUrl, { identity, securityMode: MessageSecurityMode.SignAndEncrypt, user: PLC });
  const received: { partId: string; at: number; deviceLatencyMs: number }[] = [];
  // Warm-up parts (W-*) are left out of the figures.
  const unsubscribe = await subscribeResultEvents(plc, (e) => {
    if (!String(e.PartId).startsWith('W-')) received.push({ partId: String(e.PartId), at: performance.now(), deviceLatencyMs: Number(e.LatencyMs) });
  });

  await warmUp(plc, rate);
  const total = Math.round(minutes * 60 * rate);
  const sent = new Map<string, number>();
  let callErrors = 0;
  console.log(`bench:opcua: ${total} parts at ${rate}/s over ${minutes} min, SignAndEncrypt, fake device with ${scoringMs} ms simulated scoring`);
  const start = performance.now();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const partId = `B-${i}`;
    sent.set(partId, performance.now());
    calls.push(
      plc.session
        .call(triggerRequest(plc, partId))
        .then((r) => {
          if (!r.statusCode.isGood()) callErrors++;
        }, () => {
          callErrors++;
        }),
    );
    if (i > 0 && i % (rate * 30) === 0) console.log(`  ${i} parts sent, ${received.length} results`);
  }
  await Promise.all(calls);
  await new Promise((r) => setTimeout(r, 2000));
  await unsubscribe();
  await plc.close();
  await server.stop();
  await rm(work, { recursive: true, force: true });

  const stats = matchResults(sent, received);
  const device = received.map((r) => r.deviceLatencyMs);
  const r2 = (v: number | null) => (v === null ? null : round(v, 1));
  console.log(`parts ${stats.parts}, result events ${stats.events}, missing ${stats.missing.length}, duplicated ${stats.duplicated.length}, unexpected ${stats.unexpected}, trigger call errors ${callErrors}`);
  const deviceP99 = percentile(device, 99);
  const load = round(loadavg()[0]!, 1);
  console.log(`trigger -> result event: p50 ${r2(stats.latencyMs.p50)} ms, p99 ${r2(stats.latencyMs.p99)} ms, max ${r2(stats.latencyMs.max)} ms (of which the fake device's simulated scoring: ${scoringMs} ms)`);
  console.log(`device-side latency (trigger received -> verdict, in the server process): p99 ${r2(deviceP99)} ms; load average ${load} on ${availableParallelism()} cores`);
  writeBenchResult('opcua', {
    bench: 'opcua',
    device: `fake (simulated scoring ${scoringMs} ms; runtime wiring pending)`,
    security: 'Basic256Sha256 SignAndEncrypt, user name',
    minutes,
    ratePerS: rate,
    parts: stats.parts,
    events: stats.events,
    missing: stats.missing.length,
    duplicated: stats.duplicated.length,
    unexpected: stats.unexpected,
    callErrors,
    latencyMs: { p50: r2(stats.latencyMs.p50), p99: r2(stats.latencyMs.p99), max: r2(stats.latencyMs.max) },
    deviceLatencyMs: { p50: r2(percentile(device, 50)), p99: r2(deviceP99) },
    loadAverage: load,
    cores: availableParallelism(),
  });
}

if (args.values.serve !== undefined) await serve(args.values.serve, Number(args.values['scoring-ms']));
else await bench();
