/**
 * What the OPC UA server needs from the device, and nothing more: the server
 * (runtime/opcua/server.ts) is written against this interface so it can be
 * tested with a fake device and wired to the real runtime in one place.
 * `visionSystemState` maps the runtime's facts to the four states of the
 * Machine Vision companion specification (OPC 40100-1).
 */
import type { PartCountersSnapshot } from '../parts/counters.ts';
import type { PartVerdict } from '../parts/tracker.ts';

/** The top-level states of OPC 40100-1's VisionStateMachineType. */
export const VISION_STATES = ['Preoperational', 'Halted', 'Operational', 'Error'] as const;
export type VisionSystemState = (typeof VISION_STATES)[number];

export interface CameraInfo {
  id: string;
  product: string;
  /** The product version the camera scores with; null before the product is enrolled. */
  activeVersion: string | null;
}

/** A recipe in OPC 40100-1 terms is a product with its enrolled versions. */
export interface RecipeInfo {
  product: string;
  versions: string[];
  active: string | null;
}

export interface TriggerAnswer {
  accepted: boolean;
  /** Why the trigger was refused or flagged (e.g. `duplicate_part_id`, `overlapping_trigger`). */
  error?: string;
}

export interface VisionDevicePort {
  systemState(): VisionSystemState;
  cameras(): CameraInfo[];
  recipes(): Promise<RecipeInfo[]>;
  /** Activates a product version (the path of `linesight activate`, artifact verified); throws an Error whose message says why not. */
  selectRecipe(product: string, version: string): Promise<void>;
  /** Announces a part to a camera in trigger mode; throws when the camera takes no triggers. */
  trigger(camera: string, partId: string, delayMs?: number): TriggerAnswer;
  /** Calls `listener` with every part verdict of every camera; returns the unsubscribe function. */
  onVerdict(listener: (verdict: PartVerdict) => void): () => void;
  counters(camera: string): PartCountersSnapshot;
  resetCounters(camera: string): void;
}

/** The runtime's facts the vision system state is made of. */
export interface DeviceFacts {
  /** A component failed and needs a person (e.g. the scorer cannot load). */
  fault: boolean;
  /** Still starting: cameras connecting, models loading. */
  starting: boolean;
  /** Every camera delivers frames. */
  camerasStreaming: boolean;
  /** The MQTT broker (the reject path) is connected. */
  brokerConnected: boolean;
  /** Every camera's product has an active, loaded version. */
  productsLoaded: boolean;
}

/**
 * Error on a fault; Preoperational while starting; Operational when parts can
 * be judged and rejected (cameras streaming, broker up, products loaded);
 * Halted otherwise (running, but not inspecting).
 */
export function visionSystemState(facts: DeviceFacts): VisionSystemState {
  if (facts.fault) return 'Error';
  if (facts.starting) return 'Preoperational';
  if (facts.camerasStreaming && facts.brokerConnected && facts.productsLoaded) return 'Operational';
  return 'Halted';
}
