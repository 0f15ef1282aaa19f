// nextgen.rollout: where each request of a rollout site goes, read from the site's route file
// (written atomically by the nginx_site module), so that a switch or a canary step takes effect
// at the next request without an nginx reload, and no client connection is closed.
import fs from 'fs';

function route(r) {
    var path = r.variables.nextgen_rollout_route;
    try {
        return JSON.parse(fs.readFileSync(path));
    } catch (e) {
        r.error('nextgen.rollout: cannot read the route file ' + path + ': ' + e);
        return null;
    }
}

// 32-bit FNV-1a: the same key always lands on the same side of a canary split.
function bucket(key) {
    var h = 0x811c9dc5;
    for (var i = 0; i < key.length; i++) {
        h ^= key.charCodeAt(i);
        h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h % 10000;
}

function upstream(r) {
    var rt = route(r);
    if (!rt || !rt.upstreams || !rt.upstreams[rt.live]) {
        return 'nextgen_rollout_unrouted';
    }
    if (rt.canary && rt.share > 0 && rt.upstreams[rt.canary]) {
        // The hash key is made of nginx variables ($remote_addr, ${cookie_id}$http_x_user...).
        var key = (rt.hash_key || '').replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, function (m, name) {
            return r.variables[name] || '';
        });
        var b = key ? bucket(key) : Math.floor(Math.random() * 10000);
        if (b < rt.share * 100) {
            return rt.upstreams[rt.canary];
        }
    }
    return rt.upstreams[rt.live];
}

// "<colour>/<version>" of the upstream that answered (the last one nginx tried).
function served(r) {
    var addr = r.variables.upstream_addr;
    if (!addr) {
        return '';
    }
    var tried = addr.split(', ');
    var rt = route(r);
    return (rt && rt.served && rt.served[tried[tried.length - 1]]) || '';
}

export default {upstream, served};
