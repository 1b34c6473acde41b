/**
 * The vision system's nodes in the server's address space, modelled on the
 * Machine Vision companion specification (OPC 40100-1) with plain objects,
 * variables and methods in our own namespace (the companion nodeset is not
 * loaded; docs/OPCUA.md says where the model departs from the spec). Node ids
 * are readable strings (`ns=<i>;s=VisionSystem.Cameras.<camera>.TriggerPartId`)
 * so a PLC can address them without browsing.
 *
 * State, recipes, the active version and the counters are read from the
 * device port when a client reads or samples them; results are pushed on
 * every verdict, as variables and as a `ResultReadyEventType` event.
 */
import { DataType, StatusCodes, Variant, VariantArrayType, type AddressSpace, type ISessionContext, type Namespace, type UAEventType, type UAObject, type UAVariable } from 'node-opcua';
import type { PartCountersSnapshot } from '../parts/counters.ts';
import type { PartVerdict } from '../parts/tracker.ts';
import type { CameraInfo, RecipeInfo, VisionDevicePort } from './device-port.ts';
import { callResetCounters, callSelectRecipe, callTrigger, writeTriggerPartId } from './methods.ts';

/** Fastest sampling of the variables read from the device on demand, ms. */
const SAMPLING_MS = 50;

export const VISION_NAMESPACE_URI = 'urn:linesight:machine-vision';

/** The result fields: variables per camera and fields of `ResultReadyEventType`, in this order. */
export const RESULT_FIELDS = ['PartId', 'Seq', 'Verdict', 'Action', 'Score', 'Threshold', 'DecidedTime', 'LatencyMs', 'Reason', 'Product', 'ModelVersion', 'Camera'] as const;
export type ResultField = (typeof RESULT_FIELDS)[number];

const RESULT_TYPES: Record<ResultField, DataType> = {
  PartId: DataType.String,
  Seq: DataType.UInt32,
  Verdict: DataType.String,
  Action: DataType.String,
  Score: DataType.Double,
  Threshold: DataType.Double,
  DecidedTime: DataType.DateTime,
  LatencyMs: DataType.Double,
  Reason: DataType.String,
  Product: DataType.String,
  ModelVersion: DataType.String,
  Camera: DataType.String,
};

/** A verdict as the result fields' values: a missing score/threshold is NaN, a missing reason or model version is "". */
export function resultValues(v: PartVerdict): Record<ResultField, string | number | Date> {
  return {
    PartId: v.partId,
    Seq: v.seq,
    Verdict: v.verdict,
    Action: v.action,
    Score: v.score ?? Number.NaN,
    Threshold: v.threshold ?? Number.NaN,
    DecidedTime: new Date(v.decidedTs),
    LatencyMs: v.latencyMs,
    Reason: v.reason ?? '',
    Product: v.product,
    ModelVersion: v.modelVersion ?? '',
    Camera: v.camera,
  };
}

/** The counter variables and how each is read from a snapshot (processing times are NaN before the first part). */
const COUNTERS: { name: string; dataType: DataType; read: (c: PartCountersSnapshot) => number }[] = [
  { name: 'Parts', dataType: DataType.UInt32, read: (c) => c.parts },
  { name: 'OK', dataType: DataType.UInt32, read: (c) => c.ok },
  { name: 'NG', dataType: DataType.UInt32, read: (c) => c.ng },
  { name: 'NoVerdict', dataType: DataType.UInt32, read: (c) => c.noVerdict },
  { name: 'TriggerErrors', dataType: DataType.UInt32, read: (c) => c.triggerErrors },
  { name: 'ProcessingTimeMin', dataType: DataType.Double, read: (c) => c.processingMs?.min ?? Number.NaN },
  { name: 'ProcessingTimeMean', dataType: DataType.Double, read: (c) => c.processingMs?.mean ?? Number.NaN },
  { name: 'ProcessingTimeMax', dataType: DataType.Double, read: (c) => c.processingMs?.max ?? Number.NaN },
];

export interface VisionNodes {
  visionSystem: UAObject;
  resultReadyEventType: UAEventType;
  /** Sets the camera's result variables and raises `ResultReadyEventType`. */
  publishVerdict(verdict: PartVerdict): void;
  /** Adds nodes for new products and updates each product's versions and active version. */
  updateRecipes(recipes: RecipeInfo[]): void;
}

function str(value: string): Variant {
  return new Variant({ dataType: DataType.String, value });
}

function findCamera(port: VisionDevicePort, id: string): CameraInfo | undefined {
  return port.cameras().find((c) => c.id === id);
}

function addResultEventType(ns: Namespace): UAEventType {
  const type = ns.addEventType({ browseName: 'ResultReadyEventType', subtypeOf: 'BaseEventType' });
  for (const field of RESULT_FIELDS) {
    ns.addVariable({ propertyOf: type, browseName: field, dataType: RESULT_TYPES[field], modellingRule: 'Mandatory' });
  }
  return type;
}

function addStateMachine(ns: Namespace, visionSystem: UAObject, port: VisionDevicePort): void {
  const machine = ns.addObject({ browseName: 'VisionStateMachine', componentOf: visionSystem, nodeId: 's=VisionSystem.VisionStateMachine' });
  ns.addVariable({
    componentOf: machine,
    browseName: 'CurrentState',
    nodeId: 's=VisionSystem.VisionStateMachine.CurrentState',
    dataType: 'String',
    description: 'Preoperational, Halted, Operational or Error',
    minimumSamplingInterval: SAMPLING_MS,
    value: { get: () => str(port.systemState()) },
  });
}

function addRecipeManagement(ns: Namespace, visionSystem: UAObject, port: VisionDevicePort, onSelected: () => Promise<void>): (recipes: RecipeInfo[]) => void {
  const management = ns.addObject({ browseName: 'RecipeManagement', componentOf: visionSystem, nodeId: 's=VisionSystem.RecipeManagement' });
  const folder = ns.addObject({ browseName: 'Recipes', componentOf: management, typeDefinition: 'FolderType', nodeId: 's=VisionSystem.RecipeManagement.Recipes' });
  const select = ns.addMethod(management, {
    browseName: 'SelectRecipe',
    nodeId: 's=VisionSystem.RecipeManagement.SelectRecipe',
    inputArguments: [
      { name: 'Product', dataType: DataType.String, description: 'product id' },
      { name: 'Version', dataType: DataType.String, description: 'version to activate (e.g. v3)' },
    ],
    outputArguments: [{ name: 'Error', dataType: DataType.String, description: 'why the version was not activated; empty on success' }],
  });
  select.bindMethod(async (args: Variant[], _context: ISessionContext) => {
    const result = await callSelectRecipe(port, args);
    await onSelected();
    return result;
  });
  const products = new Map<string, { versions: UAVariable; active: UAVariable }>();
  return (recipes) => {
    for (const recipe of recipes) {
      let nodes = products.get(recipe.product);
      if (!nodes) {
        const base = `VisionSystem.RecipeManagement.Recipes.${recipe.product}`;
        const product = ns.addObject({ browseName: recipe.product, organizedBy: folder, nodeId: `s=${base}` });
        nodes = {
          versions: ns.addVariable({ componentOf: product, browseName: 'Versions', nodeId: `s=${base}.Versions`, dataType: 'String', valueRank: 1, arrayDimensions: [0] }),
          active: ns.addVariable({ componentOf: product, browseName: 'ActiveVersion', nodeId: `s=${base}.ActiveVersion`, dataType: 'String' }),
        };
        products.set(recipe.product, nodes);
      }
      nodes.versions.setValueFromSource({ dataType: DataType.String, arrayType: VariantArrayType.Array, value: recipe.versions });
      nodes.active.setValueFromSource({ dataType: DataType.String, value: recipe.active ?? '' });
    }
  };
}

function addResultVariables(ns: Namespace, parent: UAObject, camera: string): Map<ResultField, UAVariable> {
  const vars = new Map<ResultField, UAVariable>();
  for (const field of RESULT_FIELDS) {
    vars.set(field, ns.addVariable({ componentOf: parent, browseName: field, nodeId: `s=VisionSystem.ResultManagement.Results.${camera}.${field}`, dataType: RESULT_TYPES[field] }));
  }
  return vars;
}

function addCamera(ns: Namespace, folder: UAObject, camera: CameraInfo, port: VisionDevicePort): void {
  const base = `VisionSystem.Cameras.${camera.id}`;
  const node = ns.addObject({ browseName: camera.id, organizedBy: folder, nodeId: `s=${base}` });
  ns.addVariable({ componentOf: node, browseName: 'Product', nodeId: `s=${base}.Product`, dataType: 'String', minimumSamplingInterval: SAMPLING_MS,
    value: { get: () => str(findCamera(port, camera.id)?.product ?? '') } });
  ns.addVariable({
    componentOf: node,
    browseName: 'ActiveVersion',
    nodeId: `s=${base}.ActiveVersion`,
    dataType: 'String',
    minimumSamplingInterval: SAMPLING_MS,
    value: { get: () => str(findCamera(port, camera.id)?.activeVersion ?? '') },
  });
  let delayMs = 0;
  let lastPartId = '';
  ns.addVariable({
    componentOf: node,
    browseName: 'TriggerDelayMs',
    nodeId: `s=${base}.TriggerDelayMs`,
    dataType: 'UInt32',
    description: 'delay from a TriggerPartId write to the part under the camera, ms',
    accessLevel: 'CurrentRead | CurrentWrite',
    userAccessLevel: 'CurrentRead | CurrentWrite',
    minimumSamplingInterval: SAMPLING_MS,
    value: {
      get: () => new Variant({ dataType: DataType.UInt32, value: delayMs }),
      set: (v: Variant) => {
        delayMs = Number(v.value);
        return StatusCodes.Good;
      },
    },
  });
  ns.addVariable({
    componentOf: node,
    browseName: 'TriggerPartId',
    nodeId: `s=${base}.TriggerPartId`,
    dataType: 'String',
    description: 'write a part id to announce the part (trigger mode)',
    accessLevel: 'CurrentRead | CurrentWrite',
    userAccessLevel: 'CurrentRead | CurrentWrite',
    minimumSamplingInterval: SAMPLING_MS,
    value: {
      get: () => str(lastPartId),
      set: (v: Variant) => {
        const status = writeTriggerPartId(port, camera.id, v.value, delayMs);
        if (status === StatusCodes.Good) lastPartId = String(v.value);
        return status;
      },
    },
  });
  const counters = ns.addObject({ browseName: 'Counters', componentOf: node, nodeId: `s=${base}.Counters` });
  for (const counter of COUNTERS) {
    ns.addVariable({
      componentOf: counters,
      browseName: counter.name,
      nodeId: `s=${base}.Counters.${counter.name}`,
      dataType: counter.dataType,
      minimumSamplingInterval: SAMPLING_MS,
    value: { get: () => new Variant({ dataType: counter.dataType, value: counter.read(port.counters(camera.id)) }) },
    });
  }
}

function addSystemMethods(ns: Namespace, visionSystem: UAObject, port: VisionDevicePort, cameraIds: string[]): void {
  const trigger = ns.addMethod(visionSystem, {
    browseName: 'Trigger',
    nodeId: 's=VisionSystem.Trigger',
    inputArguments: [
      { name: 'Camera', dataType: DataType.String, description: 'camera id' },
      { name: 'PartId', dataType: DataType.String, description: '1-64 letters, digits, ".", "_", "-" or ":"' },
      { name: 'DelayMs', dataType: DataType.UInt32, description: 'time from the call to the part under the camera, ms' },
    ],
    outputArguments: [
      { name: 'Accepted', dataType: DataType.Boolean, description: 'the part was announced' },
      { name: 'Error', dataType: DataType.String, description: 'why the trigger was refused or flagged (e.g. overlapping_trigger); empty when none' },
    ],
  });
  trigger.bindMethod(async (args: Variant[], _context: ISessionContext) => callTrigger(port, cameraIds, args));
  const reset = ns.addMethod(visionSystem, {
    browseName: 'ResetCounters',
    nodeId: 's=VisionSystem.ResetCounters',
    inputArguments: [{ name: 'Camera', dataType: DataType.String, description: 'camera id' }],
    outputArguments: [{ name: 'Error', dataType: DataType.String, description: 'why the counters were not reset; empty on success' }],
  });
  reset.bindMethod(async (args: Variant[], _context: ISessionContext) => callResetCounters(port, cameraIds, args));
}

/** Builds the vision system under Objects; the cameras are the port's cameras at this moment. */
export function buildVisionAddressSpace(addressSpace: AddressSpace, port: VisionDevicePort, refreshRecipes: () => Promise<void>): VisionNodes {
  const ns = addressSpace.registerNamespace(VISION_NAMESPACE_URI);
  const resultReadyEventType = addResultEventType(ns);
  const visionSystem = ns.addObject({ browseName: 'VisionSystem', organizedBy: addressSpace.rootFolder.objects, nodeId: 's=VisionSystem', eventNotifier: 1 });
  addStateMachine(ns, visionSystem, port);
  const updateRecipes = addRecipeManagement(ns, visionSystem, port, refreshRecipes);
  const cameras = port.cameras();
  const resultManagement = ns.addObject({ browseName: 'ResultManagement', componentOf: visionSystem, nodeId: 's=VisionSystem.ResultManagement' });
  const resultsFolder = ns.addObject({ browseName: 'Results', componentOf: resultManagement, typeDefinition: 'FolderType', nodeId: 's=VisionSystem.ResultManagement.Results' });
  const results = new Map<string, Map<ResultField, UAVariable>>();
  for (const camera of cameras) {
    const node = ns.addObject({ browseName: camera.id, organizedBy: resultsFolder, nodeId: `s=VisionSystem.ResultManagement.Results.${camera.id}` });
    results.set(camera.id, addResultVariables(ns, node, camera.id));
  }
  const camerasFolder = ns.addObject({ browseName: 'Cameras', componentOf: visionSystem, typeDefinition: 'FolderType', nodeId: 's=VisionSystem.Cameras' });
  for (const camera of cameras) addCamera(ns, camerasFolder, camera, port);
  addSystemMethods(ns, visionSystem, port, cameras.map((c) => c.id));

  const publishVerdict = (verdict: PartVerdict): void => {
    const values = resultValues(verdict);
    const vars = results.get(verdict.camera);
    const sourceTimestamp = new Date(verdict.decidedTs);
    for (const field of RESULT_FIELDS) vars?.get(field)?.setValueFromSource({ dataType: RESULT_TYPES[field], value: values[field] }, StatusCodes.Good, sourceTimestamp);
    const fields: Record<string, { dataType: DataType; value: unknown }> = {};
    for (const field of RESULT_FIELDS) fields[field.charAt(0).toLowerCase() + field.slice(1)] = { dataType: RESULT_TYPES[field], value: values[field] };
    visionSystem.raiseEvent(resultReadyEventType, {
      ...fields,
      sourceName: { dataType: DataType.String, value: verdict.camera },
      message: { dataType: DataType.LocalizedText, value: { text: `part ${verdict.partId} on ${verdict.camera}: ${verdict.verdict}` } },
      severity: { dataType: DataType.UInt16, value: verdict.action === 'reject' ? 600 : 100 },
    });
  };
  return { visionSystem, resultReadyEventType, publishVerdict, updateRecipes };
}
