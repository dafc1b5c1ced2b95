import { BooleanScalar, IntegerScalar } from '../framework/scalars.js';
import { objectType } from '../framework/types.js';

export const PaginationObject = objectType({
  id: 'Apia/PaginationObject',
  name: 'PaginationObject',
  description: 'Provides information about how data has been paginated',
  fields: {
    current_page: { type: IntegerScalar, description: 'The current page' },
    total_pages: { type: IntegerScalar, nullable: true, description: 'The total number of pages' },
    total: { type: IntegerScalar, nullable: true, description: 'The total number of items across all pages' },
    per_page: { type: IntegerScalar, description: 'The number of items per page' },
    large_set: {
      type: BooleanScalar,
      description: 'Is this a large set and therefore the total number of records cannot be returned?',
    },
  },
});
