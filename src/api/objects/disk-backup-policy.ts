import { DecimalScalar, IntegerScalar, StringScalar, UnixTimeScalar } from '../framework/scalars.js';
import { enumType, objectType, polymorph } from '../framework/types.js';
import type { PolicyRecord } from '../../services/policies.js';
import { DiskObject } from './disk.js';
import { VirtualMachineObject } from './virtual-machine.js';

export const ScheduleIntervalTypeEnum = enumType('CoreAPI/Objects/ScheduleIntervalTypeEnum', 'ScheduleIntervalTypeEnum', [
  'hourly', 'daily', 'weekly', 'monthly',
]);

export const ScheduleObject = objectType({
  id: 'CoreAPI/Objects/Schedule',
  name: 'Schedule',
  fields: {
    frequency: { type: IntegerScalar, value: (p: PolicyRecord) => p.schedule_frequency },
    interval: { type: ScheduleIntervalTypeEnum, value: (p: PolicyRecord) => p.schedule_interval },
    minute: { type: IntegerScalar, value: (p: PolicyRecord) => p.schedule_minute },
    next_invocation_at: { type: UnixTimeScalar },
    time: { type: IntegerScalar, value: (p: PolicyRecord) => p.schedule_time },
  },
});

/** On the wire: `{"type":"Disk"|"VirtualMachine","value":{…}}`. */
export const DiskBackupPolicyTargetPolymorph = polymorph({
  id: 'CoreAPI/Objects/DiskBackupPolicyTarget',
  name: 'DiskBackupPolicyTarget',
  options: [
    { name: 'VirtualMachine', type: VirtualMachineObject, matches: (t) => t.type === 'VirtualMachine' },
    { name: 'Disk', type: DiskObject, matches: (t) => t.type === 'Disk' },
  ],
});

const BYTES_PER_GB = 1e9;

export const DiskBackupPolicyObject = objectType({
  id: 'CoreAPI/Objects/DiskBackupPolicy',
  name: 'DiskBackupPolicy',
  fields: {
    id: { type: StringScalar },
    retention: { type: IntegerScalar },
    total_size: { type: DecimalScalar, value: (p: PolicyRecord) => p.total_size_bytes / BYTES_PER_GB },
    target: { type: DiskBackupPolicyTargetPolymorph },
    // The schedule's fields live on the policy row itself.
    schedule: { type: ScheduleObject, value: (p: PolicyRecord) => p },
    auto_move_to_trash_at: { type: UnixTimeScalar, nullable: true },
  },
});
