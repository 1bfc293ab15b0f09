-- For the rest of the floor's transaction: group by a sort, not a hash. At millions of groups a hash
-- aggregate spills to disk and took longer than the sort, and the floor is the least work. No parameters.
SET LOCAL enable_hashagg = off
