/**
 * Which listen addresses keep a server on the device. A leaf module (no
 * imports), so every config section that refuses open access off loopback
 * can use it without an import cycle through config/schema.ts.
 */

/** Host names and addresses that only the device itself can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
