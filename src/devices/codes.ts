/**
 * The measurements devices may send: LOINC codes with their UCUM units and plausible ranges.
 * Values travel as integers in the unit shown (what wearables and home monitors report), so a
 * batch has one exact encoding; a value outside its range is a malformed batch, not a sample.
 *
 * `slot` is the code's number in the vault's sample table: append only, never renumber.
 */
export interface DeviceCode {
  readonly code: string;
  readonly display: string;
  /** UCUM unit code. */
  readonly unit: string;
  readonly min: number;
  readonly max: number;
  readonly category: 'vital-signs' | 'activity' | 'laboratory';
  readonly slot: number;
}

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';

export const DEVICE_CODES: readonly DeviceCode[] = [
  { code: '8867-4', display: 'Heart rate', unit: '/min', min: 20, max: 300, category: 'vital-signs', slot: 1 },
  {
    code: '59408-5',
    display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
    unit: '%',
    min: 50,
    max: 100,
    category: 'vital-signs',
    slot: 2,
  },
  { code: '55423-8', display: 'Number of steps', unit: '{steps}', min: 0, max: 100_000, category: 'activity', slot: 3 },
  { code: '8480-6', display: 'Systolic blood pressure', unit: 'mm[Hg]', min: 40, max: 300, category: 'vital-signs', slot: 4 },
  { code: '8462-4', display: 'Diastolic blood pressure', unit: 'mm[Hg]', min: 20, max: 200, category: 'vital-signs', slot: 5 },
  {
    code: '2339-0',
    display: 'Glucose [Mass/volume] in Blood',
    unit: 'mg/dL',
    min: 10,
    max: 1000,
    category: 'laboratory',
    slot: 6,
  },
];

const BY_CODE = new Map(DEVICE_CODES.map((c) => [c.code, c]));
const BY_SLOT = new Map(DEVICE_CODES.map((c) => [c.slot, c]));

export function deviceCode(code: string): DeviceCode | undefined {
  return BY_CODE.get(code);
}

export function deviceCodeOfSlot(slot: number): DeviceCode | undefined {
  return BY_SLOT.get(slot);
}

/** `8867-4` or `http://loinc.org|8867-4` → the code, if it is one devices send. */
export function parseDeviceCode(token: string): DeviceCode | undefined {
  const bar = token.indexOf('|');
  if (bar >= 0 && token.slice(0, bar) !== LOINC) return undefined;
  return deviceCode(bar >= 0 ? token.slice(bar + 1) : token);
}
