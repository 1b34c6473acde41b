/**
 * The device's OPC UA server: a PLC or SCADA browses the vision system,
 * triggers parts, subscribes to their results, selects recipes and reads the
 * counters (address space: runtime/opcua/address-space.ts; security:
 * runtime/opcua/security.ts). It reaches the device only through a
 * VisionDevicePort, so the runtime wires it in one place.
 */
import { OPCUAServer, Subscription } from 'node-opcua';
import type { OpcUaUser } from '../../config/opcua.ts';
import type { VisionDevicePort } from './device-port.ts';
import { buildVisionAddressSpace, type VisionNodes } from './address-space.ts';
import { assertExposureAllowed, endpointSecurity, openCertificateStore, openUserCertificateStore, passwordChecker } from './security.ts';

export interface VisionServerOptions {
  host: string;
  /** 0 picks a free port (see `port` after start). */
  port: number;
  allowAnonymous: boolean;
  allowSecurityNone: boolean;
  users: OpcUaUser[];
  /** The certificate store (see runtime/opcua/security.ts for its layout). */
  pkiDir: string;
  /** How often new products and versions are picked up, ms. */
  recipePollMs?: number;
  /** Software version shown in the server's BuildInfo. */
  softwareVersion?: string;
}

const DEFAULT_RECIPE_POLL_MS = 5000;
/**
 * Fastest publishing interval a subscription may ask for (node-opcua's own
 * floor is 50 ms): a PLC subscribing to results at its 10 ms cycle gets each
 * result within 10 ms of the verdict. Only subscriptions that ask for it pay
 * for the faster timer.
 */
export const MIN_PUBLISHING_INTERVAL_MS = 10;

export class VisionOpcUaServer {
  private server: OPCUAServer | null = null;
  private nodes: VisionNodes | null = null;
  private unsubscribe: (() => void) | null = null;
  private recipeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: VisionServerOptions,
    private readonly device: VisionDevicePort,
  ) {}

  /** Creates the certificate on first start, builds the address space and listens. Throws when the settings expose the server unsafely. */
  async start(): Promise<void> {
    const o = this.options;
    assertExposureAllowed(o);
    Subscription.minimumPublishingInterval = MIN_PUBLISHING_INTERVAL_MS;
    const server = await this.createServer();
    try {
      await server.initialize();
      const addressSpace = server.engine.addressSpace;
      if (!addressSpace) throw new Error('no address space after initialize');
      this.nodes = buildVisionAddressSpace(addressSpace, this.device, () => this.refreshRecipes());
      await this.refreshRecipes();
      this.unsubscribe = this.device.onVerdict((v) => this.nodes?.publishVerdict(v));
      await server.start();
    } catch (err) {
      this.unsubscribe?.();
      this.unsubscribe = null;
      this.nodes = null;
      await server.shutdown(0).catch(() => undefined);
      throw new Error(`the OPC UA server could not start on ${o.host}:${o.port}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.server = server;
    this.recipeTimer = setInterval(() => void this.refreshRecipes().catch(() => undefined), o.recipePollMs ?? DEFAULT_RECIPE_POLL_MS);
    this.recipeTimer.unref();
  }

  private async createServer(): Promise<OPCUAServer> {
    const o = this.options;
    const checkPassword = passwordChecker(o.users);
    const bindsOneAddress = o.host !== '0.0.0.0' && o.host !== '::';
    return new OPCUAServer({
      host: o.host,
      port: o.port,
      ...(bindsOneAddress ? { hostname: o.host } : {}),
      ...endpointSecurity(o.allowSecurityNone),
      allowAnonymous: o.allowAnonymous,
      userManager: { isValidUser: (username: string, password: string) => checkPassword(username, password) },
      serverCertificateManager: await openCertificateStore(o.pkiDir),
      userCertificateManager: await openUserCertificateStore(o.pkiDir),
      serverInfo: { applicationName: { text: 'linesight vision system' }, applicationUri: 'urn:linesight:vision-system', productUri: 'urn:linesight' },
      buildInfo: { productName: 'linesight', manufacturerName: 'linesight', softwareVersion: o.softwareVersion ?? '0.0.0' },
      isAuditing: false,
    });
  }

  /** The port the server listens on (the real one when started with port 0). */
  get port(): number {
    const endpoint = this.server?.endpoints[0];
    if (!endpoint) throw new Error('the OPC UA server is not started');
    return endpoint.port;
  }

  /** `opc.tcp://<host>:<port>`, for clients on the host the server binds to. */
  get endpointUrl(): string {
    const host = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
    return `opc.tcp://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  /** Re-reads the recipes (products and versions) from the device. */
  async refreshRecipes(): Promise<void> {
    if (this.nodes) this.nodes.updateRecipes(await this.device.recipes());
  }

  async stop(): Promise<void> {
    if (this.recipeTimer) clearInterval(this.recipeTimer);
    this.recipeTimer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    const server = this.server;
    this.server = null;
    this.nodes = null;
    if (server) await server.shutdown(0);
  }
}
