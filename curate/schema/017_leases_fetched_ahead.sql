-- A pair leased to an annotator ahead of time, while they read the one on screen: it becomes the
-- one on screen when that is answered, without waiting for the queue's query.
ALTER TABLE leases ADD COLUMN prefetched BOOLEAN DEFAULT false;
