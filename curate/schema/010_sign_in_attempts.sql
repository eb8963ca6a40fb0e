-- Sign-in attempts, for the delay and lockout after repeated failures (an admin can lift it).
CREATE TABLE sign_in_attempts (
    name VARCHAR NOT NULL,          -- the account name tried
    address VARCHAR,                -- where the attempt came from, when the server knows
    ok BOOLEAN NOT NULL,
    attempted_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX idx_sign_in_attempts ON sign_in_attempts(name, attempted_at);
