-- 0011: the ledger action 'uncertain': a record an attempt found already in V2 right after an
-- attempt of the same customer was interrupted (killed or stopped before its audit). That
-- attempt may have created it, or it may have been there before: rollback keeps it and names it.
ALTER TABLE migration_record DROP CONSTRAINT migration_record_action_check;
ALTER TABLE migration_record ADD CONSTRAINT migration_record_action_check
    CHECK (action IN ('created', 'updated', 'uncertain', 'deleted'));
