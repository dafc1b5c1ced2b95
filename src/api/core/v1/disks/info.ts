import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskObject } from '../../../objects/disk.js';
import { KeyValueObject } from '../../../objects/key-value.js';
import { DiskLookup } from '../lookups.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/Disks/InfoEndpoint',
  name: 'Get disk',
  description: 'Return details for a specific disk',
  method: 'GET',
  route: 'disks/:disk',
  tag: 'Disks',
  scopes: ['disks', 'disks:read'],
  arguments: {
    disk: { type: DiskLookup, required: true, description: 'The disk to return' },
  },
  errors: [],
  fields: {
    // OpenAPI 2.68's field set: the native schema's plus bus_type and data_center.
    disk: {
      type: DiskObject,
      spec:
        'id,name,size_in_gb,wwn,state,created_at,storage_speed,io_profile[*],bus_type,data_center[id,name,permalink],' +
        'virtual_machine_disk[state,attach_on_boot,boot,virtual_machine[id,fqdn]],installation[id]',
      description: 'The disk details',
    },
    annotations: { type: KeyValueObject, array: true },
  },
  async action({ args }) {
    return { disk: args.disk, annotations: [] };
  },
});
