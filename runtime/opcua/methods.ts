/**
 * The OPC UA methods and the writable trigger variable of the vision system:
 * argument checks and the call into the device port. A call the device
 * refuses answers with a Bad status code and the reason as the `Error` output
 * argument (every method's last output), so a PLC sees both.
 */
import { DataType, StatusCodes, Variant, type CallMethodResultOptions, type StatusCode } from 'node-opcua';
import { MAX_TRIGGER_DELAY_MS, partIdSchema } from '../parts/payloads.ts';
import type { VisionDevicePort } from './device-port.ts';

/** A checked trigger, or why it is refused. */
export type TriggerRequest = { ok: true; camera: string; partId: string; delayMs: number } | { ok: false; message: string };

/** Checks the arguments of a trigger against the device's cameras and the part id rules of the `trigger` topic. */
export function checkTrigger(cameraIds: readonly string[], camera: unknown, partId: unknown, delayMs: unknown): TriggerRequest {
  if (typeof camera !== 'string' || !cameraIds.includes(camera)) {
    return { ok: false, message: `unknown camera ${JSON.stringify(camera)}; the cameras are ${cameraIds.join(', ') || '(none)'}` };
  }
  const id = partIdSchema.safeParse(partId);
  if (!id.success) return { ok: false, message: `part id ${JSON.stringify(partId)} is invalid: 1-64 letters, digits, ".", "_", "-" or ":"` };
  const delay = delayMs === undefined || delayMs === null ? 0 : delayMs;
  if (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0 || delay > MAX_TRIGGER_DELAY_MS) {
    return { ok: false, message: `delay ${JSON.stringify(delayMs)} ms is out of range 0..${MAX_TRIGGER_DELAY_MS}` };
  }
  return { ok: true, camera, partId: id.data, delayMs: delay };
}

function text(value: string): Variant {
  return new Variant({ dataType: DataType.String, value });
}

function refused(statusCode: StatusCode, message: string, outputs: Variant[] = []): CallMethodResultOptions {
  return { statusCode, outputArguments: [...outputs, text(message)] };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `Trigger(Camera, PartId, DelayMs) -> (Accepted, Error)`. */
export function callTrigger(port: VisionDevicePort, cameraIds: readonly string[], args: Variant[]): CallMethodResultOptions {
  const request = checkTrigger(cameraIds, args[0]?.value, args[1]?.value, args[2]?.value);
  const notAccepted = new Variant({ dataType: DataType.Boolean, value: false });
  if (!request.ok) return refused(StatusCodes.BadInvalidArgument, request.message, [notAccepted]);
  try {
    const answer = port.trigger(request.camera, request.partId, request.delayMs);
    const accepted = new Variant({ dataType: DataType.Boolean, value: answer.accepted });
    if (!answer.accepted) return refused(StatusCodes.BadInvalidState, answer.error ?? 'trigger refused', [accepted]);
    return { statusCode: StatusCodes.Good, outputArguments: [accepted, text(answer.error ?? '')] };
  } catch (err) {
    return refused(StatusCodes.BadInvalidState, errorMessage(err), [notAccepted]);
  }
}

/** `SelectRecipe(Product, Version) -> (Error)`: activates the version as `linesight activate` does. */
export async function callSelectRecipe(port: VisionDevicePort, args: Variant[]): Promise<CallMethodResultOptions> {
  const product = args[0]?.value;
  const version = args[1]?.value;
  if (typeof product !== 'string' || product === '' || typeof version !== 'string' || version === '') {
    return refused(StatusCodes.BadInvalidArgument, 'SelectRecipe needs a product id and a version');
  }
  try {
    await port.selectRecipe(product, version);
    return { statusCode: StatusCodes.Good, outputArguments: [text('')] };
  } catch (err) {
    return refused(StatusCodes.BadInvalidArgument, errorMessage(err));
  }
}

/** `ResetCounters(Camera) -> (Error)`. */
export function callResetCounters(port: VisionDevicePort, cameraIds: readonly string[], args: Variant[]): CallMethodResultOptions {
  const camera = args[0]?.value;
  if (typeof camera !== 'string' || !cameraIds.includes(camera)) {
    return refused(StatusCodes.BadInvalidArgument, `unknown camera ${JSON.stringify(camera)}; the cameras are ${cameraIds.join(', ') || '(none)'}`);
  }
  port.resetCounters(camera);
  return { statusCode: StatusCodes.Good, outputArguments: [text('')] };
}

/**
 * A write to a camera's `TriggerPartId`: announces the part (with the
 * camera's `TriggerDelayMs`). Bad status when the id is invalid or the
 * tracker refuses it (e.g. the same id is still waiting).
 */
export function writeTriggerPartId(port: VisionDevicePort, camera: string, partId: unknown, delayMs: number): StatusCode {
  const request = checkTrigger([camera], camera, partId, delayMs);
  if (!request.ok) return StatusCodes.BadInvalidArgument;
  try {
    return port.trigger(camera, request.partId, request.delayMs).accepted ? StatusCodes.Good : StatusCodes.BadInvalidState;
  } catch {
    return StatusCodes.BadInvalidState;
  }
}
