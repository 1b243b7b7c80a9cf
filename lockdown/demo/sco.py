"""The demo exam's SCO: the content page inside the player's iframe, like a Numbas package.

It finds ``API_1484_11`` (or, with ``?api=1.2``, the SCORM 1.2 ``API``) by climbing
``window.parent`` like the pipwerks SCORM wrapper Numbas uses, shows :data:`QUESTIONS` short
questions (text inputs ``#q1``..``#q25`` with labels) and on every change or "Save" click calls
``SetValue('cmi.interactions.<n-1>.id', 'q<n>')``, ``SetValue('cmi.interactions.<n-1>.
learner_response', value)`` and ``Commit('')``. Each question shows its save state in
``#q<n>-status`` (``data-state`` is ``empty``, ``saved`` or ``error``). "Finish" (``#finish``)
sets ``cmi.completion_status=completed``, commits and terminates.

At start it restores saved answers with ``GetValue`` (the player seeds the API with the
server's stored values) and creates any missing interaction ids in order, as Numbas does for
its parts, because SCORM only lets a SCO append to a collection. SCORM 1.2 interactions are
write-only, so in that mode answers are also kept (and restored from) ``cmi.suspend_data``.

``window.demoExam.answer(n, value)`` types and saves an answer from a test (returns whether
``Commit`` succeeded), ``window.demoExam.finish()`` finishes.
"""

from __future__ import annotations

import html

from lockdown.demo.pages import TITLE_SCO

QUESTIONS = 25

SCO_JS = r"""// Demo exam SCO: see lockdown/demo/sco.py.
(function () {
    'use strict';
    var QUESTIONS = __QUESTIONS__;
    var version = new URLSearchParams(window.location.search).get('api') === '1.2' ? '1.2' : '2004';

    // pipwerks SCORM_API_wrapper find(): climb the parent chain (at most 500 levels), then the
    // opener's. A cross-origin window throws on access: that means "no API there".
    function find(win, name) {
        var tries = 0;
        try {
            while (!win[name] && win.parent && win.parent !== win && tries < 500) {
                tries++;
                win = win.parent;
            }
            return win[name] || null;
        } catch (err) {
            return null;
        }
    }

    function getAPI(name) {
        return find(window, name) || (window.opener ? find(window.opener, name) : null);
    }

    function Lms2004(api) {
        this.api = api;
    }
    Lms2004.prototype.initialize = function () { return this.api.Initialize('') === 'true'; };
    Lms2004.prototype.lastError = function () { return this.api.GetLastError(); };
    Lms2004.prototype.restore = function () {
        var answers = {};
        var count = parseInt(this.api.GetValue('cmi.interactions._count'), 10) || 0;
        for (var i = 0; i < count; i++) {
            var id = this.api.GetValue('cmi.interactions.' + i + '.id');
            var match = /^q(\d+)$/.exec(id);
            var response = this.api.GetValue('cmi.interactions.' + i + '.learner_response');
            if (match && this.api.GetLastError() === '0') { answers[match[1]] = response; }
        }
        for (var j = count; j < QUESTIONS; j++) {
            this.api.SetValue('cmi.interactions.' + j + '.id', 'q' + (j + 1));
        }
        return answers;
    };
    Lms2004.prototype.save = function (n, value) {
        var prefix = 'cmi.interactions.' + (n - 1) + '.';
        if (this.api.SetValue(prefix + 'id', 'q' + n) !== 'true' ||
                this.api.SetValue(prefix + 'learner_response', value) !== 'true') {
            return this.api.GetLastError();
        }
        return this.api.Commit('') === 'true' ? true : this.api.GetLastError();
    };
    Lms2004.prototype.finish = function () {
        this.api.SetValue('cmi.completion_status', 'completed');
        this.api.SetValue('cmi.exit', 'normal');
        if (this.api.Commit('') !== 'true') { return this.api.GetLastError(); }
        return this.api.Terminate('') === 'true' ? true : this.api.GetLastError();
    };

    function Lms12(api) {
        this.api = api;
        this.answers = {};
    }
    Lms12.prototype.initialize = function () { return this.api.LMSInitialize('') === 'true'; };
    Lms12.prototype.lastError = function () { return this.api.LMSGetLastError(); };
    Lms12.prototype.restore = function () {
        try {
            this.answers = JSON.parse(this.api.LMSGetValue('cmi.suspend_data') || '{}') || {};
        } catch (err) {
            this.answers = {};
        }
        var count = parseInt(this.api.LMSGetValue('cmi.interactions._count'), 10) || 0;
        for (var j = count; j < QUESTIONS; j++) {
            this.api.LMSSetValue('cmi.interactions.' + j + '.id', 'q' + (j + 1));
        }
        return this.answers;
    };
    Lms12.prototype.save = function (n, value) {
        var prefix = 'cmi.interactions.' + (n - 1) + '.';
        this.answers[String(n)] = value;
        if (this.api.LMSSetValue(prefix + 'id', 'q' + n) !== 'true' ||
                this.api.LMSSetValue(prefix + 'student_response', value) !== 'true' ||
                this.api.LMSSetValue('cmi.suspend_data', JSON.stringify(this.answers)) !== 'true') {
            return this.api.LMSGetLastError();
        }
        return this.api.LMSCommit('') === 'true' ? true : this.api.LMSGetLastError();
    };
    Lms12.prototype.finish = function () {
        this.api.LMSSetValue('cmi.core.lesson_status', 'completed');
        if (this.api.LMSCommit('') !== 'true') { return this.api.LMSGetLastError(); }
        return this.api.LMSFinish('') === 'true' ? true : this.api.LMSGetLastError();
    };

    var lms = null;
    var apiStatus = document.getElementById('api-status');

    function show(element, state, text) {
        element.setAttribute('data-state', state);
        element.textContent = text;
    }

    function status(n, state, text) {
        show(document.getElementById('q' + n + '-status'), state, text);
    }

    function save(n) {
        var input = document.getElementById('q' + n);
        if (!lms) {
            status(n, 'error', 'not saved (no LMS connection)');
            return false;
        }
        var result;
        try {
            result = lms.save(n, input.value);
        } catch (err) {
            // Moodle's synchronous XMLHttpRequest throws when the network is down.
            status(n, 'error', 'not saved (network error)');
            return false;
        }
        if (result === true) {
            status(n, 'saved', 'saved');
            return true;
        }
        status(n, 'error', 'not saved (error ' + result + ')');
        return false;
    }

    function finish() {
        var examStatus = document.getElementById('exam-status');
        if (!lms) {
            show(examStatus, 'error', 'Cannot finish: no LMS connection');
            return false;
        }
        var result;
        try {
            result = lms.finish();
        } catch (err) {
            result = 'network error';
        }
        if (result === true) {
            show(examStatus, 'finished', 'Exam finished');
            var controls = document.querySelectorAll('input, button');
            for (var i = 0; i < controls.length; i++) { controls[i].disabled = true; }
            return true;
        }
        show(examStatus, 'error', 'Finish failed (' + result + ')');
        return false;
    }

    var api = getAPI(version === '1.2' ? 'API' : 'API_1484_11');
    if (!api) {
        show(apiStatus, 'none', 'No LMS connection: answers will not be saved');
    } else {
        var candidate = version === '1.2' ? new Lms12(api) : new Lms2004(api);
        if (candidate.initialize()) {
            lms = candidate;
            var answers = lms.restore();
            for (var key in answers) {
                var input = document.getElementById('q' + key);
                if (input && Object.prototype.hasOwnProperty.call(answers, key)) {
                    input.value = answers[key];
                    status(key, 'saved', 'saved');
                }
            }
            show(apiStatus, 'connected', 'Connected to the LMS (' + api.version + ')');
        } else {
            show(apiStatus, 'error',
                'LMS initialisation failed (error ' + candidate.lastError() + ')');
        }
    }

    for (var n = 1; n <= QUESTIONS; n++) {
        (function (q) {
            var saveThis = function () { save(q); };
            document.getElementById('q' + q).addEventListener('change', saveThis);
            document.getElementById('q' + q + '-save').addEventListener('click', saveThis);
        }(n));
    }
    document.getElementById('finish').addEventListener('click', finish);

    window.demoExam = {
        version: version,
        connected: function () { return lms !== null; },
        answer: function (n, value) {
            document.getElementById('q' + n).value = value;
            return save(n);
        },
        finish: finish
    };
    document.documentElement.setAttribute('data-exam-ready', lms ? 'connected' : 'offline');
}());
""".replace("__QUESTIONS__", str(QUESTIONS))


def question_text(n: int) -> str:
    return f"Question {n}: what is {n} + 7?"


def sco_page() -> str:
    """The static SCO page (served as ``exam.html``; behaviour comes from ``exam.js``)."""
    items = "".join(
        f'<li class="question"><label for="q{n}">{html.escape(question_text(n))}</label> '
        f'<input type="text" id="q{n}" name="q{n}" autocomplete="off"'
        f'{" autofocus" if n == 1 else ""}> '
        f'<button type="button" id="q{n}-save">Save</button> '
        f'<span id="q{n}-status" class="status" data-state="empty">not answered</span></li>'
        for n in range(1, QUESTIONS + 1)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(TITLE_SCO)}</title>"
        "<style>body{font-family:sans-serif} .status{color:#555} "
        "[data-state=saved]{color:#357a32} [data-state=error]{color:#ca3120}</style>"
        '<script src="/mod/scorm/sco/exam.js" defer></script></head>\n<body>'
        '<p id="api-status" data-state="connecting">Connecting to the LMS...</p>'
        f'<ol id="questions">{items}</ol>'
        '<button type="button" id="finish">Finish</button>'
        '<p id="exam-status" data-state="open"></p></body></html>\n'
    )
