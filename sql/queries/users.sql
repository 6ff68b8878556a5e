-- name: CreateUser :one
INSERT INTO users (email, display_name)
VALUES (@email, sqlc.narg(display_name))
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE id = @id;
