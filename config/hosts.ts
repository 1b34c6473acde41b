/**
 * Which listen addresses keep a server on the device. Every server that
 * refuses open access off loopback (HTTP, the embedded MQTT broker, OPC UA)
 * asks this one function.
 */

/** Host names and addresses that only the device itself can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}
