-- fuzzlib.tag: a shared module (lua_path) the fuzz-platform plugin requires; its state
-- is per worker and per configuration generation.
local M = { runs = 0 }

function M.label(tag, token)
    return tag .. ":" .. #token .. ":" .. M.runs
end

return M
