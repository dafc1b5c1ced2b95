/** Page-numbered listing as the Core API does it (Kaminari under Apia). */
export interface PageRequest {
  readonly page: number;
  readonly perPage: number;
}

export interface Pagination {
  current_page: number;
  total_pages: number | null;
  total: number | null;
  per_page: number;
  large_set: boolean;
}

export interface Page<T> {
  readonly items: T[];
  readonly pagination: Pagination;
}

/** Sets larger than this are not counted: `large_set` is true and the totals are null. */
export const LARGE_SET_THRESHOLD = 1000;

export function offsetOf(request: PageRequest): number {
  return (request.page - 1) * request.perPage;
}

export function paginationFor(request: PageRequest, total: number): Pagination {
  if (total > LARGE_SET_THRESHOLD) {
    return { current_page: request.page, total_pages: null, total: null, per_page: request.perPage, large_set: true };
  }
  return {
    current_page: request.page,
    total_pages: Math.ceil(total / request.perPage),
    total,
    per_page: request.perPage,
    large_set: false,
  };
}
