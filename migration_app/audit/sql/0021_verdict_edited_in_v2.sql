-- 0021: the verdict 'EDITED_IN_V2': V2 differs from V1's transform only on records someone other
-- than the integration user changed last (people's work, kept by the conflict guard): expected,
-- not an error.
ALTER TABLE migration_verification DROP CONSTRAINT migration_verification_verdict_check;
ALTER TABLE migration_verification ADD CONSTRAINT migration_verification_verdict_check
    CHECK (verdict IN ('MATCH', 'DRIFT', 'MISSING', 'UNEXPECTED', 'EDITED_IN_V2'));
