"""Shared harness for driving a module's main(): exit_json/fail_json raise ModuleExit with the result."""


class ModuleExit(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind, self.result = kind, result


def exit_json(self, **kwargs):
    raise ModuleExit("exit", kwargs)


def fail_json(self, **kwargs):
    raise ModuleExit("fail", kwargs)
