import { IntegerScalar, StringScalar, UnixTimeScalar } from '../framework/scalars.js';
import { enumType, objectType } from '../framework/types.js';

export const TrashObjectObject = objectType({
  id: 'CoreAPI/Objects/TrashObject',
  name: 'TrashObject',
  fields: {
    id: { type: StringScalar },
    keep_until: { type: UnixTimeScalar },
    object_id: { type: StringScalar },
    object_type: { type: StringScalar },
  },
});

export const TaskStatusEnum = enumType('CoreAPI/Objects/TaskStatusEnum', 'TaskStatusEnum', [
  'pending', 'running', 'completed', 'failed',
]);

export const TaskObject = objectType({
  id: 'CoreAPI/Objects/Task',
  name: 'Task',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    status: { type: TaskStatusEnum },
    created_at: { type: UnixTimeScalar },
    started_at: { type: UnixTimeScalar, nullable: true },
    finished_at: { type: UnixTimeScalar, nullable: true },
    progress: { type: IntegerScalar },
  },
});
