/** Disks and their attachment to a virtual machine. */
import { BooleanScalar, IntegerScalar, StringScalar, UnixTimeScalar } from '../framework/scalars.js';
import { enumType, objectType } from '../framework/types.js';
import { flag } from './reference.js';
import { DataCenterObject } from './reference.js';
import { VirtualMachineObject } from './virtual-machine.js';

export const DiskStateEnum = enumType('CoreAPI/Objects/DiskStateEnum', 'DiskStateEnum', [
  'not_built', 'failed', 'built', 'building', 'installing', 'restoring', 'formatting', 'resizing', 'configuring', 'importing',
]);
export const StorageSpeedEnum = enumType('CoreAPI/Objects/StorageSpeedEnum', 'StorageSpeedEnum', ['nvme', 'ssd']);
export const DiskBusEnum = enumType('CoreAPI/Objects/DiskBusEnum', 'DiskBusEnum', ['scsi', 'virtio']);
export const VirtualMachineDiskAttachmentStateEnum = enumType(
  'CoreAPI/Objects/VirtualMachineDiskAttachmentStateEnum',
  'VirtualMachineDiskAttachmentStateEnum',
  ['detached', 'failed', 'attached', 'attaching', 'detaching'],
);

export const DiskIOProfileObject = objectType({
  id: 'CoreAPI/Objects/DiskIOProfile',
  name: 'DiskIOProfile',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    permalink: { type: StringScalar },
    speed_in_mb: { type: IntegerScalar, nullable: true },
    iops: { type: IntegerScalar, nullable: true },
  },
});

/** Every disk here runs without an I/O limit: the real API's "Unrestricted" profile. */
const UNRESTRICTED = { id: 'diop_i39iT7k0RYAdQP48', name: 'Unrestricted', permalink: 'unrestricted', speed_in_mb: null, iops: null };

export const DiskInstallationObject = objectType({
  id: 'CoreAPI/Objects/DiskInstallation',
  name: 'DiskInstallation',
  fields: { id: { type: StringScalar } },
});

export const DiskObject = objectType({
  id: 'CoreAPI/Objects/Disk',
  name: 'Disk',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    size_in_gb: { type: IntegerScalar },
    wwn: { type: StringScalar },
    state: { type: DiskStateEnum },
    created_at: { type: UnixTimeScalar },
    storage_speed: { type: StorageSpeedEnum },
    io_profile: { type: DiskIOProfileObject, nullable: true, value: () => UNRESTRICTED },
    bus_type: { type: DiskBusEnum, nullable: true, value: () => 'scsi' },
    data_center: { type: DataCenterObject },
    virtual_machine_disk: { type: () => VirtualMachineDiskObject, nullable: true, value: (disk) => disk.attachment ?? null },
    installation: { type: DiskInstallationObject, nullable: true, value: () => null },
  },
});

export const VirtualMachineDiskObject = objectType({
  id: 'CoreAPI/Objects/VirtualMachineDisk',
  name: 'VirtualMachineDisk',
  fields: {
    virtual_machine: { type: VirtualMachineObject },
    disk: { type: DiskObject },
    attach_on_boot: { type: BooleanScalar, value: flag('attach_on_boot') },
    boot: { type: BooleanScalar, value: flag('boot') },
    state: { type: VirtualMachineDiskAttachmentStateEnum },
  },
});
