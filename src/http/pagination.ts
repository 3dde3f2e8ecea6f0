import { Type, type TSchema } from 'typebox';

export const PageQuery = {
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Most results (1 to 1000).' }),
  offset: Type.Integer({ minimum: 0, default: 0, description: 'Results to skip.' }),
};

export function Page<T extends TSchema>(item: T) {
  return Type.Object({
    data: Type.Array(item),
    total: Type.Integer(),
    limit: Type.Integer(),
    offset: Type.Integer(),
  });
}
