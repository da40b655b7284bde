-- fuzz-platform: a plugin on a lua_path module (fuzzlib.tag) whose init_worker starts a
-- timer that waits and counts, so that reloads under load retire and start them while
-- requests use the module; its config comes from secrets (${ENV}, ${file:...}).
local mg = require "moongate"
local tag = require "fuzzlib.tag"

return {
    name = "fuzz-platform", version = "1.0", priority = 1200,
    schema = { type = "record", fields = {
        tag = { type = "string", required = true },
        token = { type = "string", required = true },
    } },
    init_worker = function(confs)
        assert(#confs == 1, "one config")
        mg.sleep(1)
        assert(mg.timer.every(0.2, function(premature)
            if not premature then
                tag.runs = tag.runs + 1
                mg.sleep(2)
            end
        end))
    end,
    rewrite = function(conf)
        mg.request.set_header("X-Fuzz-Platform", tag.label(conf.tag, conf.token))
    end,
}
