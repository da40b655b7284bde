-- fuzz-re: runs mg.re on what the client sends: the pattern from X-Re (or the query's
-- `re`), the flags from X-Re-Flags, the subject the path, and answers what came out.
-- Bad patterns, unknown flags, bad UTF-8 under "u" and patterns that hit the match
-- limit must all end as an answer, never as a stuck or crashed worker.
local mg = require "moongate"
return {
    name = "fuzz-re", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function()
        local pat = mg.request.get_header("X-Re") or mg.request.get_query_arg("re") or "(\\w+)"
        if type(pat) ~= "string" then
            pat = "x"
        end
        local flags = mg.request.get_header("X-Re-Flags") or ""
        local subject = mg.request.get_path()
        local ok, a, b = pcall(mg.re.match, subject, pat, flags)
        local out = { tostring(ok), tostring(a and (type(a) == "table" and a[0] or a)), tostring(b) }
        ok, a, b = pcall(mg.re.gsub, subject, pat, "<$0>", flags)
        out[#out + 1] = tostring(ok) .. " " .. tostring(a) .. " " .. tostring(b)
        ok, a = pcall(mg.re.split, subject, pat, flags, 8)
        out[#out + 1] = tostring(ok) .. " " .. tostring(type(a) == "table" and #a or a)
        local n = 0
        ok = pcall(function()
            for _ in mg.re.gmatch(subject, pat, flags) do
                n = n + 1
                if n > 64 then break end
            end
        end)
        out[#out + 1] = tostring(ok) .. " " .. n
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
